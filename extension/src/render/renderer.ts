// The renderer widget for changelab MIME types: reads the payload from the output's bundle and
// shows the generic card, or an explanation when the payload cannot be read.
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';
import { renderCard, renderInvalidCard } from './card';
import { CHANGELAB_MIME_TYPES, CHANGELAB_RENDERER_RANK } from './mimetypes';
import { parsePayload } from './payload';

export class ChangelabCardRenderer
  extends Widget
  implements IRenderMime.IRenderer
{
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
    this.addClass('jp-changelab-rendered');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    let card: HTMLElement;
    try {
      const parsed = parsePayload(model.data[this._mimeType]);
      card = parsed.ok
        ? renderCard(parsed.payload)
        : renderInvalidCard(
            this._mimeType,
            parsed.error,
            parsed.kind,
            plainText(model)
          );
    } catch (error) {
      // Rendering must never break the output area; say what happened instead.
      card = renderInvalidCard(
        this._mimeType,
        `unexpected problem while rendering: ${String(error)}`,
        undefined,
        plainText(model)
      );
    }
    // Re-rendering (update_display_data) replaces the card rather than appending to it.
    this.node.replaceChildren(card);
    return Promise.resolve();
  }

  private _mimeType: string;
}

/** The bundle's `text/plain` alternative, if any. */
function plainText(model: IRenderMime.IMimeModel): string | undefined {
  const text = model.data['text/plain'];
  if (typeof text === 'string') {
    return text;
  }
  // nbformat allows multi-line strings stored as arrays of lines.
  if (Array.isArray(text) && text.every(line => typeof line === 'string')) {
    return text.join('');
  }
  return undefined;
}

export const cardRendererFactory: IRenderMime.IRendererFactory = {
  // Safe: every payload string is set as text, so untrusted notebooks render usefully too.
  safe: true,
  mimeTypes: [...CHANGELAB_MIME_TYPES],
  defaultRank: CHANGELAB_RENDERER_RANK,
  createRenderer: options => new ChangelabCardRenderer(options)
};
