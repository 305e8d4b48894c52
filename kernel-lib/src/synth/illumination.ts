// How a date looks from the air: the season (grass and tree colours), where the sun stands
// (shadow direction and length) and the overall radiometry of that flight (gain, haze). These are
// the nuisance changes a change-detection model must learn to ignore.

import type { Rgb } from './layout';
import type { IRandom } from './random';

export type Season = 'spring' | 'summer' | 'autumn' | 'winter';

export interface ILook {
  season: Season;
  /** Degrees clockwise from north. */
  sunAzimuth: number;
  /** Degrees above the horizon. */
  sunElevation: number;
  /** Per-channel multiplier of the flight (exposure and white balance). */
  gain: Rgb;
  /** Added brightness from haze, in 8-bit digital numbers. */
  haze: number;
}

export interface ISeasonPalette {
  grass: Rgb;
  soil: Rgb;
  tree: Rgb;
}

const PALETTES: Record<Season, ISeasonPalette> = {
  spring: { grass: [108, 138, 74], soil: [148, 132, 108], tree: [70, 112, 52] },
  summer: { grass: [86, 122, 58], soil: [140, 126, 102], tree: [44, 84, 40] },
  autumn: { grass: [142, 128, 78], soil: [150, 132, 104], tree: [138, 94, 44] },
  winter: { grass: [150, 142, 124], soil: [156, 146, 130], tree: [92, 86, 74] }
};

export function palette(season: Season): ISeasonPalette {
  return PALETTES[season];
}

/** Meteorological seasons; flipped south of the equator. */
export function seasonOf(date: Date, latitude: number): Season {
  const month = date.getUTCMonth(); // 0 = January
  const north: Season[] = ['winter', 'spring', 'summer', 'autumn'];
  const index = Math.floor(((month + 1) % 12) / 3);
  return north[latitude >= 0 ? index : (index + 2) % 4];
}

export function lookFor(date: Date, latitude: number, random: IRandom): ILook {
  const dayOfYear =
    (date.getTime() - Date.UTC(date.getUTCFullYear(), 0, 1)) / 86400000;
  const declination = -23.44 * Math.cos((2 * Math.PI * (dayOfYear + 10)) / 365);
  // Survey flights avoid dawn and dusk: a little below the noon elevation, never too low.
  const noon = 90 - Math.abs(latitude - declination);
  const sunElevation = Math.min(75, Math.max(18, noon - random.range(3, 20)));
  const sunAzimuth = (latitude >= 0 ? 180 : 0) + random.range(-45, 45);
  const exposure = random.range(0.9, 1.12);
  const warmth = random.range(-0.04, 0.04);
  return {
    season: seasonOf(date, latitude),
    sunAzimuth: (sunAzimuth + 360) % 360,
    sunElevation,
    gain: [exposure * (1 + warmth), exposure, exposure * (1 - warmth)],
    haze: random.range(0, 14)
  };
}
