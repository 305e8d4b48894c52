// The shared shape of a changelab side panel: a JupyterLab SidePanel with a heading, a line on
// what the panel shows, and an empty state until the catalog service feeds it live data.
import { LabIcon, SidePanel } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';

export namespace ChangelabPanel {
  export interface IOptions {
    /** Stable DOM id; the layout restorer and the open commands find the panel by it. */
    id: string;
    /** CSS class that marks this particular panel, `jp-changelab-...`. */
    className: string;
    /** Title shown as the panel heading and as the tab's tooltip. */
    label: string;
    /** One line on what will appear in the panel. */
    explanation: string;
    /** What the panel says while it has nothing to show. */
    emptyMessage: string;
    icon: LabIcon;
  }
}

/**
 * Base class of the three changelab panels. Subclasses only choose the texts and the icon, so
 * the panels look and behave alike.
 */
export class ChangelabPanel extends SidePanel {
  constructor(options: ChangelabPanel.IOptions) {
    // A plain Panel, not the default accordion: each changelab panel has one body for now.
    super({ content: new Panel() });
    this.id = options.id;
    this.addClass('jp-changelab-panel');
    this.addClass(options.className);
    this.title.icon = options.icon;
    // Like JupyterLab's own side panels: an icon tab with the name as its tooltip, no label
    // (a label would be drawn as vertical text next to the icon).
    this.title.caption = options.label;

    this.header.addWidget(ChangelabPanel.createHeading(options.label));
    this._body = ChangelabPanel.createBody(
      options.explanation,
      options.emptyMessage
    );
    this.addWidget(this._body);
  }

  /** The body widget under the heading, where live content will go. */
  get body(): Widget {
    return this._body;
  }

  private _body: Widget;
}

export namespace ChangelabPanel {
  /** The panel heading: the panel's name, in the side-panel header. */
  export function createHeading(label: string): Widget {
    const node = document.createElement('h2');
    node.className = 'jp-changelab-panel-heading';
    node.textContent = label;
    return new Widget({ node });
  }

  /** The panel body: what the panel is for, then an empty-state message. */
  export function createBody(
    explanation: string,
    emptyMessage: string
  ): Widget {
    const body = new Widget();
    body.addClass('jp-changelab-panel-body');

    const about = document.createElement('p');
    about.className = 'jp-changelab-panel-explanation';
    about.textContent = explanation;

    const empty = document.createElement('div');
    empty.className = 'jp-changelab-panel-empty';
    empty.textContent = emptyMessage;

    body.node.append(about, empty);
    return body;
  }
}
