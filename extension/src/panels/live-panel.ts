// A side panel fed by the changelab service: it loads whenever it is shown, has a labelled Refresh
// button, a status line announced to screen readers (loading, counts, errors) and a content area
// the subclass fills in `render()`. Data stays in the subclass's model; the DOM is redrawn from it.
import type { Message } from '@lumino/messaging';
import { ChangelabPanel } from '../panel';
import { PanelService } from './client';
import { button, el } from './dom';

export abstract class LivePanel extends ChangelabPanel {
  readonly service: PanelService;
  /** Where the subclass draws; replaced wholesale on each render. */
  protected readonly contentNode: HTMLElement;
  private readonly statusNode: HTMLElement;
  private loading: Promise<void> | null = null;

  constructor(options: ChangelabPanel.IOptions & { serviceUrl?: string; project?: string }) {
    super(options);
    this.service = new PanelService(options.serviceUrl, options.project);
    this.addClass('jp-changelab-live-panel');
    const toolbar = el('div', { class: 'jp-changelab-live-toolbar', role: 'toolbar', 'aria-label': `${options.label} actions` });
    toolbar.append(button('Refresh', () => void this.refresh(), { label: `Refresh ${options.label.toLowerCase()}` }));
    this.statusNode = el('p', { class: 'jp-changelab-live-status', role: 'status', 'aria-live': 'polite' });
    this.contentNode = el('div', { class: 'jp-changelab-live-content' });
    this.body.node.append(toolbar, this.statusNode, this.contentNode);
    this.addToolbarItems(toolbar);
  }

  /** Extra controls next to Refresh (filters). */
  protected addToolbarItems(_toolbar: HTMLElement): void {
    // none by default
  }

  /** Loads when shown, each time: runs and versions made in a notebook meanwhile appear. */
  protected override onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.refresh();
  }

  /** Loads from the service and redraws; concurrent calls share one load. */
  refresh(): Promise<void> {
    this.loading ??= (async () => {
      this.setStatus('Loading…');
      this.node.setAttribute('aria-busy', 'true');
      try {
        await this.load();
        this.body.node.querySelector('.jp-changelab-panel-empty')?.toggleAttribute('hidden', !this.isEmpty());
        this.render();
      } catch (error) {
        this.setStatus(`Could not load: ${(error as Error).message}`, true);
      } finally {
        this.node.removeAttribute('aria-busy');
        this.node.dataset.loads = String(Number(this.node.dataset.loads ?? 0) + 1);
        this.loading = null;
      }
    })();
    return this.loading;
  }

  protected setStatus(text: string, error = false): void {
    this.statusNode.textContent = text;
    this.statusNode.classList.toggle('jp-mod-error', error);
  }

  /** Fetches the panel's data into the subclass's fields. */
  protected abstract load(): Promise<void>;
  /** Whether there is nothing to show (the empty-state message stays visible). */
  protected abstract isEmpty(): boolean;
  /** Redraws `content` (and the status line) from the loaded data. */
  protected abstract render(): void;
}
