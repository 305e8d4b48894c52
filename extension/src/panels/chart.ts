// A small inline SVG line chart of one metric curve ([step, value] pairs), coloured with theme
// variables; it carries a text alternative (first, last, min and max) for screen readers.
const SVG = 'http://www.w3.org/2000/svg';

function node<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) {
    n.setAttribute(k, String(v));
  }
  return n;
}

const short = (v: number) => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4))));

export function lineChart(title: string, points: [number, number][], size: { width?: number; height?: number } = {}): SVGSVGElement {
  const width = size.width ?? 260;
  const height = size.height ?? 90;
  const pad = { left: 36, right: 6, top: 6, bottom: 16 };
  const values = points.map(p => p[1]).filter(Number.isFinite);
  const steps = points.map(p => p[0]);
  const minY = values.length ? Math.min(...values) : 0;
  const maxY = values.length ? Math.max(...values) : 1;
  const minX = steps.length ? Math.min(...steps) : 0;
  const maxX = steps.length ? Math.max(...steps) : 1;
  const spanY = maxY - minY || Math.abs(maxY) || 1;
  const spanX = maxX - minX || 1;
  const x = (s: number) => pad.left + ((s - minX) / spanX) * (width - pad.left - pad.right);
  const y = (v: number) => height - pad.bottom - ((v - minY) / spanY) * (height - pad.top - pad.bottom);
  const svg = node('svg', { class: 'jp-changelab-live-chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
  const description =
    points.length === 0
      ? `${title}: no points`
      : `${title}: ${points.length} points from step ${minX} to ${maxX}; first ${short(points[0][1])}, last ${short(points[points.length - 1][1])}, min ${short(minY)}, max ${short(maxY)}`;
  svg.setAttribute('aria-label', description);
  const t = node('title', {});
  t.textContent = description;
  svg.append(t);
  svg.append(node('line', { class: 'jp-changelab-live-chart-axis', x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom }));
  svg.append(node('line', { class: 'jp-changelab-live-chart-axis', x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom }));
  for (const [v, yy] of [
    [maxY, pad.top + 4],
    [minY, height - pad.bottom]
  ] as const) {
    const label = node('text', { class: 'jp-changelab-live-chart-label', x: pad.left - 3, y: yy, 'text-anchor': 'end' });
    label.textContent = short(v);
    svg.append(label);
  }
  for (const [s, anchor] of [
    [minX, 'start'],
    [maxX, 'end']
  ] as const) {
    const label = node('text', { class: 'jp-changelab-live-chart-label', x: x(s), y: height - 3, 'text-anchor': anchor });
    label.textContent = `step ${s}`;
    svg.append(label);
  }
  if (points.length > 0) {
    const d = points
      .filter(p => Number.isFinite(p[1]))
      .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`)
      .join(' ');
    svg.append(node('path', { class: 'jp-changelab-live-chart-line', d }));
    if (points.length === 1) {
      svg.append(node('circle', { class: 'jp-changelab-live-chart-point', cx: x(points[0][0]), cy: y(points[0][1]), r: 2.5 }));
    }
  }
  return svg;
}
