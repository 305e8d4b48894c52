// Icons for the changelab side panels. The `jp-icon3` class lets JupyterLab's themes recolour
// them, so they follow light and dark themes like the built-in icons.
import { LabIcon } from '@jupyterlab/ui-components';

// A stack of three layers: a dataset is chips and labels stacked up version after version.
const datasetsSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2 1.5 7.5 12 13l10.5-5.5L12 2Z"/>
    <path d="m4.2 10.6-2.7 1.4L12 17.5 22.5 12l-2.7-1.4L12 14.7l-7.8-4.1Z"/>
    <path d="m4.2 15.1-2.7 1.4L12 22l10.5-5.5-2.7-1.4L12 19.2l-7.8-4.1Z"/>
  </g>
</svg>`;

// A check mark in a shield: an expectation suite that passed or failed.
const validationSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 1 3 5v6c0 5.6 3.8 10.7 9 12 5.2-1.3 9-6.4 9-12V5l-9-4Zm-1.9 16L6 12.9l1.4-1.4 2.7 2.7 6.5-6.5L18 9.1 10.1 17Z"/>
  </g>
</svg>`;

// A folded map: previews of images, pairs and change maps.
const mapsSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M20.5 3h-.2L15 5.1 9 3 3.4 4.9c-.2.1-.4.3-.4.5V20.5c0 .3.2.5.5.5h.2L9 18.9l6 2.1 5.6-1.9c.2-.1.4-.3.4-.5V3.5c0-.3-.2-.5-.5-.5ZM15 19l-6-2.1V5l6 2.1V19Z"/>
  </g>
</svg>`;

export const datasetsIcon = new LabIcon({
  name: 'changelab:datasets',
  svgstr: datasetsSvg
});

export const validationIcon = new LabIcon({
  name: 'changelab:validation',
  svgstr: validationSvg
});

export const mapsIcon = new LabIcon({
  name: 'changelab:maps',
  svgstr: mapsSvg
});
