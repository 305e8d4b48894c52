// Draws one view of the synthetic world as an 8-bit RGB aerial image, painter's order: ground,
// trees, roads, demolition sites, shadows, roofs; then the flight's radiometry and sensor noise.
// Every shape is drawn from its signed distance, so edges are anti-aliased and move smoothly
// with a sub-pixel camera shift.

import { palette, type ILook } from './illumination';
import type { IBuilding, ISceneLayout, Rgb } from './layout';
import { fractalNoise, latticeValue } from './noise';
import {
  boundingBox,
  convexDistance,
  convexHull,
  rectangleCorners,
  rectangleField,
  type IPoint,
  type IRectangle
} from './shapes';
import { toPixelX, toPixelY, type IView } from './view';

const ASPHALT: Rgb = [92, 94, 98];
const LANE_PAINT: Rgb = [222, 220, 210];
const BARE_EARTH: Rgb = [170, 150, 124];
/** Shadows keep skylight, which is bluish. */
const SHADOW: Rgb = [0.42, 0.45, 0.53];

export interface IRenderInput {
  layout: ISceneLayout;
  /** The buildings standing in this image. */
  buildings: IBuilding[];
  /** Lots cleared since the other date, drawn as bare earth. */
  demolished: IBuilding[];
  view: IView;
  look: ILook;
  /** Seeds the world's textures: the same for both dates. */
  worldSeed: number;
  /** Seeds this capture's sensor noise: different per date. */
  captureSeed: number;
}

export function renderImage(input: IRenderInput): Uint8Array {
  const { layout, view, look } = input;
  const { width, height, gsd } = view;
  const canvas = new Canvas(width, height);
  const terrain = fractalNoise(view, input.worldSeed ^ 0x51ed, [
    { spacing: 90, weight: 1 },
    { spacing: 25, weight: 0.4 }
  ]);
  const texture = fractalNoise(view, input.worldSeed ^ 0x7a3c, [
    { spacing: 2.5, weight: 1 },
    { spacing: 0.8, weight: 0.6 }
  ]);
  const colours = palette(look.season);

  // Ground: grass and bare soil in large patches, with fine texture.
  const [grassR, grassG, grassB] = colours.grass;
  const [soilR, soilG, soilB] = colours.soil;
  const rgb = canvas.rgb;
  for (let i = 0; i < width * height; i++) {
    const t = clamp01((terrain[i] - 0.42) / 0.16);
    const soil = t * t * (3 - 2 * t);
    const grain = 0.82 + 0.36 * texture[i];
    rgb[i * 3] = (grassR + (soilR - grassR) * soil) * grain;
    rgb[i * 3 + 1] = (grassG + (soilG - grassG) * soil) * grain;
    rgb[i * 3 + 2] = (grassB + (soilB - grassB) * soil) * grain;
  }

  for (const tree of layout.trees) {
    const x = toPixelX(view, tree.x);
    const y = toPixelY(view, tree.y);
    const r = tree.r / gsd;
    canvas.paint(
      {
        minX: x - r * 1.3,
        maxX: x + r * 1.3,
        minY: y - r * 1.3,
        maxY: y + r * 1.3
      },
      (px, py, i) => Math.hypot(px - x, py - y) - r * (0.75 + 0.5 * texture[i]),
      (i, cover) =>
        canvas.blend(i, colours.tree, cover, 0.45 + 1.1 * texture[i])
    );
  }

  for (const road of layout.roads) {
    drawRoad(canvas, view, road, texture);
  }

  for (const lot of input.demolished) {
    const cleared = toPixelRectangle(view, {
      ...lot,
      halfLength: lot.halfLength + 1.5,
      halfWidth: lot.halfWidth + 1.5
    });
    const field = rectangleField(cleared);
    canvas.paint(
      boundingBox(rectangleCorners(cleared)),
      field.distance,
      (i, cover) => canvas.blend(i, BARE_EARTH, cover, 0.75 + 0.5 * texture[i])
    );
  }

  // Towards the sun, in image axes (x east, y south).
  const azimuth = (look.sunAzimuth * Math.PI) / 180;
  const sun = { x: Math.sin(azimuth), y: -Math.cos(azimuth) };
  const shadowScale = 1 / Math.tan((look.sunElevation * Math.PI) / 180);
  // Shadows are collected first and applied once: where two overlap, the ground is no darker.
  const shade = new Float32Array(width * height);
  for (const building of input.buildings) {
    const length = building.height * shadowScale;
    const footprint = rectangleCorners(building);
    const cast = footprint.map(p => ({
      x: p.x - sun.x * length,
      y: p.y - sun.y * length
    }));
    const shadow = convexHull(
      [...footprint, ...cast].map(p => toPixel(view, p))
    );
    canvas.paint(
      boundingBox(shadow.points),
      (px, py) => convexDistance(shadow, px, py),
      (i, cover) => {
        shade[i] = Math.max(shade[i], cover);
      }
    );
  }
  for (let i = 0; i < width * height; i++) {
    if (shade[i] > 0) {
      canvas.darken(i, SHADOW, shade[i]);
    }
  }

  for (const building of input.buildings) {
    drawRoof(canvas, view, building, sun, texture);
  }

  return canvas.toBytes(look, input.captureSeed);
}

/** Ground-truth change on the view's grid: 1 where a changed footprint covers the pixel centre. */
export function renderChangeMask(
  changed: IBuilding[],
  view: IView
): Uint8Array {
  const mask = new Uint8Array(view.width * view.height);
  const canvas = new Canvas(view.width, view.height);
  for (const building of changed) {
    const footprint = toPixelRectangle(view, building);
    canvas.paint(
      boundingBox(rectangleCorners(footprint)),
      rectangleField(footprint).distance,
      (i, cover) => {
        if (cover >= 0.5) {
          mask[i] = 1;
        }
      }
    );
  }
  return mask;
}

function drawRoad(
  canvas: Canvas,
  view: IView,
  road: ISceneLayout['roads'][number],
  texture: Float32Array
): void {
  const lx = toPixelX(view, road.x);
  const ly = toPixelY(view, road.y);
  const sin = Math.sin(road.angle);
  const cos = Math.cos(road.angle);
  const halfWidth = road.halfWidth / view.gsd;
  const reach = halfWidth + 1;
  const arterial = road.halfWidth > 5;
  const paintHalfWidth = 0.15 / view.gsd;
  for (let row = 0; row < canvas.height; row++) {
    const py = row + 0.5;
    // The road is a straight band: find the columns it covers on this row instead of testing all.
    let from = 0;
    let to = canvas.width - 1;
    if (Math.abs(sin) > 1e-9) {
      const a = lx + ((py - ly) * cos - reach) / sin;
      const b = lx + ((py - ly) * cos + reach) / sin;
      from = Math.max(0, Math.floor(Math.min(a, b)));
      to = Math.min(canvas.width - 1, Math.ceil(Math.max(a, b)));
    }
    for (let col = from; col <= to; col++) {
      const px = col + 0.5;
      const across = -(px - lx) * sin + (py - ly) * cos;
      const cover = clamp01(0.5 - (Math.abs(across) - halfWidth));
      if (cover <= 0) {
        continue;
      }
      const i = row * canvas.width + col;
      canvas.blend(i, ASPHALT, cover, 0.9 + 0.2 * texture[i]);
      if (arterial) {
        // Dashed centre line, 4.5 m on and off.
        const along = ((px - lx) * cos + (py - ly) * sin) * view.gsd;
        if (((along % 9) + 9) % 9 < 4.5) {
          canvas.blend(
            i,
            LANE_PAINT,
            clamp01(0.5 - (Math.abs(across) - paintHalfWidth)) * cover,
            1
          );
        }
      }
    }
  }
}

function drawRoof(
  canvas: Canvas,
  view: IView,
  building: IBuilding,
  sun: IPoint,
  texture: Float32Array
): void {
  const roof = toPixelRectangle(view, building);
  const parapet = 0.6 / view.gsd;
  // A pitched roof's two faces lean across the building's width; the one facing the sun is lighter.
  const across = { x: -Math.sin(building.angle), y: Math.cos(building.angle) };
  const facing = across.x * sun.x + across.y * sun.y;
  const field = rectangleField(roof);
  canvas.paint(
    boundingBox(rectangleCorners(roof)),
    field.distance,
    (i, cover, px, py) => {
      let light = 0.93 + 0.14 * texture[i];
      if (building.gable) {
        light *= 1 + 0.2 * Math.sign(field.across(px, py)) * facing;
      } else if (field.distance(px, py) > -parapet) {
        light *= 0.8;
      }
      canvas.blend(i, building.roof, cover, light);
    }
  );
}

function toPixel(view: IView, p: IPoint): IPoint {
  return { x: toPixelX(view, p.x), y: toPixelY(view, p.y) };
}

function toPixelRectangle(view: IView, rect: IRectangle): IRectangle {
  return {
    cx: toPixelX(view, rect.cx),
    cy: toPixelY(view, rect.cy),
    halfLength: rect.halfLength / view.gsd,
    halfWidth: rect.halfWidth / view.gsd,
    angle: rect.angle
  };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** A float RGB image being painted, with coverage-weighted blending. */
class Canvas {
  readonly rgb: Float32Array;

  constructor(
    readonly width: number,
    readonly height: number
  ) {
    this.rgb = new Float32Array(width * height * 3);
  }

  /**
   * Visits the pixels of a bounding box (in pixel coordinates) whose centres lie within half a
   * pixel of the shape, with coverage estimated from the signed distance.
   */
  paint(
    box: { minX: number; maxX: number; minY: number; maxY: number },
    distance: (px: number, py: number, i: number) => number,
    shade: (i: number, cover: number, px: number, py: number) => void
  ): void {
    const col0 = Math.max(0, Math.floor(box.minX - 1));
    const col1 = Math.min(this.width - 1, Math.ceil(box.maxX + 1));
    const row0 = Math.max(0, Math.floor(box.minY - 1));
    const row1 = Math.min(this.height - 1, Math.ceil(box.maxY + 1));
    for (let row = row0; row <= row1; row++) {
      for (let col = col0; col <= col1; col++) {
        const i = row * this.width + col;
        const px = col + 0.5;
        const py = row + 0.5;
        const cover = clamp01(0.5 - distance(px, py, i));
        if (cover > 0) {
          shade(i, cover, px, py);
        }
      }
    }
  }

  blend(i: number, colour: Rgb, cover: number, brightness: number): void {
    for (let c = 0; c < 3; c++) {
      const k = i * 3 + c;
      this.rgb[k] += (colour[c] * brightness - this.rgb[k]) * cover;
    }
  }

  darken(i: number, factor: Rgb, cover: number): void {
    for (let c = 0; c < 3; c++) {
      this.rgb[i * 3 + c] *= 1 - cover * (1 - factor[c]);
    }
  }

  /** Applies the flight's gain and haze, adds about +-2 DN of sensor noise, rounds to 8 bits. */
  toBytes(look: ILook, captureSeed: number): Uint8Array {
    const out = new Uint8Array(this.rgb.length);
    for (let i = 0; i < this.width * this.height; i++) {
      const noise = (latticeValue(i, 0, captureSeed) - 0.5) * 4;
      for (let c = 0; c < 3; c++) {
        const v = this.rgb[i * 3 + c] * look.gain[c] + look.haze + noise + 0.5;
        out[i * 3 + c] = v < 0 ? 0 : v >= 255 ? 255 : v | 0; // rounds: v was offset by 0.5
      }
    }
    return out;
  }
}
