// The CRS a GeoTIFF's GeoKeys name. EPSG-coded CRSs come from the EPSG index (name + PROJ
// string). User-defined ones (ProjectedCSType 32767) are rebuilt from their keys for the
// projection methods aerial imagery uses (TM/UTM, LCC, Mercator, Albers, LAEA, oblique
// stereographic, equirectangular) on a datum we can name, with a WKT1 description; anything
// else is an "unknown CRS" problem, so the file is quarantined rather than misplaced.
import proj4 from 'proj4';

import type { ICrsInfo } from '../types';
import { isGeographicKind, lookupEpsg } from './epsg-registry';
import { numberKey, textKey, type IGeoKeys } from './geokeys';
import { GeoKey, ModelType, USER_DEFINED } from '../../tiff/codes';

export interface IResolvedCrs {
  info: ICrsInfo;
  /** PROJ definition for transforms; null when the CRS cannot be used. */
  proj4: string | null;
  problems: string[];
  notes: string[];
}

export function resolveCrs(geo: IGeoKeys | null): IResolvedCrs | null {
  if (!geo) {
    return null;
  }
  const modelType = numberKey(geo, GeoKey.GTModelType);
  const projCode = numberKey(geo, GeoKey.ProjectedCSType);
  const geogCode = numberKey(geo, GeoKey.GeographicType);
  const citation =
    textKey(geo, GeoKey.PCSCitation) ??
    textKey(geo, GeoKey.GTCitation) ??
    textKey(geo, GeoKey.GeogCitation) ??
    null;
  if (modelType === ModelType.geocentric) {
    return unknown(
      citation,
      false,
      'the CRS is geocentric (X/Y/Z), which cannot place an image on a map'
    );
  }
  const projected =
    modelType === ModelType.projected ||
    (modelType === undefined && projCode !== undefined);
  const geographic =
    !projected &&
    (modelType === ModelType.geographic || geogCode !== undefined);
  if (!projected && !geographic) {
    return modelType === undefined
      ? null
      : unknown(
          citation,
          false,
          `GTModelTypeGeoKey is ${modelType}, which names no CRS`
        );
  }
  const code = projected ? projCode : geogCode;
  if (code !== undefined && code > 0 && code < USER_DEFINED) {
    return fromEpsg(code, projected);
  }
  return projected
    ? userDefinedProjected(geo, citation)
    : userDefinedGeographic(geo, citation);
}

function fromEpsg(code: number, projected: boolean): IResolvedCrs {
  const entry = lookupEpsg(code);
  if (!entry) {
    return {
      info: { epsg: code, name: null, wkt: null, geographic: !projected },
      proj4: null,
      problems: [
        `unknown CRS: the file names EPSG:${code}, which is not in the EPSG registry`
      ],
      notes: []
    };
  }
  const geographic = isGeographicKind(entry.kind);
  return {
    info: { epsg: code, name: entry.name, wkt: null, geographic },
    proj4: entry.proj4,
    problems: entry.proj4
      ? []
      : [
          `unknown CRS: EPSG:${code} (${entry.name}) has no PROJ definition to transform it with`
        ],
    notes: []
  };
}

function unknown(
  name: string | null,
  geographic: boolean,
  why: string
): IResolvedCrs {
  return {
    info: { epsg: null, name, wkt: null, geographic },
    proj4: null,
    problems: [`unknown CRS: ${why}`],
    notes: []
  };
}

interface IDatum {
  /** PROJ parameters for the ellipsoid, datum shift and prime meridian. */
  proj4: string;
  name: string;
  notes: string[];
}

// Ellipsoids by EPSG code as PROJ names them.
const ELLIPSOIDS: Record<number, string> = {
  7001: 'airy',
  7004: 'bessel',
  7008: 'clrk66',
  7012: 'clrk80',
  7019: 'GRS80',
  7022: 'intl',
  7024: 'krass',
  7030: 'WGS84',
  7043: 'WGS72'
};

// Angular units by EPSG code, in degrees.
const ANGULAR_UNITS: Record<number, number> = {
  9101: 180 / Math.PI,
  9102: 1,
  9105: 0.9,
  9122: 1
};

// Linear units by EPSG code: name and length in metres.
const LINEAR_UNITS: Record<number, [string, number]> = {
  9001: ['metre', 1],
  9002: ['foot', 0.3048],
  9003: ['US survey foot', 1200 / 3937],
  9005: ["Clarke's foot", 0.3047972654],
  9014: ['fathom', 1.8288],
  9030: ['nautical mile', 1852],
  9036: ['kilometre', 1000],
  9040: ['British yard (Sears 1922)', 0.91439523],
  9041: ['British foot (Sears 1922)', 0.30479947],
  9042: ['British chain (Sears 1922)', 0.201166195164],
  9093: ['statute mile', 1609.344]
};

/** The geodetic part of a user-defined CRS: an EPSG geographic CRS, a datum, or an ellipsoid. */
function datumOf(geo: IGeoKeys): IDatum | null {
  const notes: string[] = [];
  const pmLong = numberKey(geo, GeoKey.GeogPrimeMeridianLong);
  const pm = pmLong ? ` +pm=${pmLong}` : '';
  const fromGeographicCrs = (code: number): IDatum | null => {
    const entry = lookupEpsg(code);
    if (!entry?.proj4 || !isGeographicKind(entry.kind)) {
      return null;
    }
    const parts = entry.proj4
      .split(/\s+/)
      .filter(part =>
        /^\+(datum|ellps|towgs84|a|b|rf|f|pm|nadgrids)=/.test(part)
      );
    return parts.length
      ? { proj4: parts.join(' '), name: entry.name, notes }
      : null;
  };
  const geogCode = numberKey(geo, GeoKey.GeographicType);
  if (geogCode !== undefined && geogCode > 0 && geogCode < USER_DEFINED) {
    const datum = fromGeographicCrs(geogCode);
    if (datum) {
      return datum;
    }
  }
  const datumCode = numberKey(geo, GeoKey.GeogGeodeticDatum);
  if (datumCode !== undefined && datumCode >= 6000 && datumCode < 7000) {
    // EPSG numbered the classic datums 6xxx and their geographic CRSs 4xxx.
    const datum = fromGeographicCrs(datumCode - 2000);
    if (datum) {
      return {
        ...datum,
        proj4: datum.proj4 + (datum.proj4.includes('+pm=') ? '' : pm)
      };
    }
  }
  const ellipsoidCode = numberKey(geo, GeoKey.GeogEllipsoid);
  let ellipsoid: string | null = null;
  let name = 'unknown ellipsoid';
  if (ellipsoidCode !== undefined && ELLIPSOIDS[ellipsoidCode]) {
    ellipsoid = `+ellps=${ELLIPSOIDS[ellipsoidCode]}`;
    name = ELLIPSOIDS[ellipsoidCode];
  } else {
    const a = numberKey(geo, GeoKey.GeogSemiMajorAxis);
    const rf = numberKey(geo, GeoKey.GeogInvFlattening);
    const b = numberKey(geo, GeoKey.GeogSemiMinorAxis);
    if (a && rf) {
      ellipsoid = `+a=${a} +rf=${rf}`;
    } else if (a && b) {
      ellipsoid = `+a=${a} +b=${b}`;
    } else if (a) {
      ellipsoid = `+a=${a} +b=${a}`;
    }
    name = 'user-defined ellipsoid';
  }
  if (!ellipsoid) {
    return null;
  }
  notes.push(
    'the datum is user-defined with no known shift to WGS 84; none is applied (tens to hundreds of metres on old datums)'
  );
  return { proj4: `${ellipsoid}${pm}`, name, notes };
}

function userDefinedGeographic(
  geo: IGeoKeys,
  citation: string | null
): IResolvedCrs {
  const datum = datumOf(geo);
  if (!datum) {
    return unknown(
      citation,
      true,
      'a user-defined geographic CRS without a datum or ellipsoid we can identify'
    );
  }
  const angular = numberKey(geo, GeoKey.GeogAngularUnits);
  if (angular !== undefined && angular !== 9102 && angular !== 9122) {
    return unknown(
      citation,
      true,
      `a geographic CRS in angular unit ${angular}; only degrees are supported`
    );
  }
  const definition = `+proj=longlat ${datum.proj4} +no_defs`;
  const name = citation ?? datum.name;
  return {
    info: {
      epsg: null,
      name,
      wkt: geogcsWkt(name, datum, definition),
      geographic: true
    },
    proj4: definition,
    problems: [],
    notes: datum.notes
  };
}

/** [PROJ parameter, WKT1 parameter, value]; an empty name leaves the value out of that form. */
type MethodParam = [string, string, number];

interface IMethod {
  proj: string;
  wkt: string;
  params: MethodParam[];
}

function userDefinedProjected(
  geo: IGeoKeys,
  citation: string | null
): IResolvedCrs {
  const datum = datumOf(geo);
  if (!datum) {
    return unknown(
      citation,
      false,
      'a user-defined projected CRS whose datum or ellipsoid we cannot identify'
    );
  }
  const unitCode = numberKey(geo, GeoKey.ProjLinearUnits);
  const [unitName, unitSize] =
    unitCode === USER_DEFINED
      ? ['user-defined unit', numberKey(geo, GeoKey.ProjLinearUnitSize)]
      : unitCode === undefined
        ? ['metre', 1]
        : (LINEAR_UNITS[unitCode] ?? ['', undefined]);
  if (!unitSize) {
    return unknown(
      citation,
      false,
      `a projected CRS in linear unit ${unitCode}, which we do not know`
    );
  }
  const angularCode = numberKey(geo, GeoKey.GeogAngularUnits);
  const toDegrees = angularCode === undefined ? 1 : ANGULAR_UNITS[angularCode];
  if (!toDegrees) {
    return unknown(
      citation,
      false,
      `projection angles in unit ${angularCode}, which we do not know`
    );
  }
  const method = methodOf(geo, unitSize, toDegrees);
  if (typeof method === 'string') {
    return unknown(citation, false, method);
  }
  const units = unitSize === 1 ? '+units=m' : `+to_meter=${unitSize}`;
  const projParams = method.params
    .filter(([key]) => key)
    .map(([key, , value]) => (key === 'south' ? '+south' : `+${key}=${value}`));
  const definition = [
    `+proj=${method.proj}`,
    ...projParams,
    datum.proj4,
    units,
    '+no_defs'
  ].join(' ');
  try {
    proj4.Proj(definition);
  } catch (cause) {
    return unknown(
      citation,
      false,
      `the user-defined projection (${definition}) is not valid: ${(cause as Error)?.message ?? cause}`
    );
  }
  const name = citation ?? 'unnamed';
  const params = method.params
    .filter(([, wktName]) => wktName)
    .map(([, wktName, value]) => `PARAMETER["${wktName}",${value}]`);
  const unitWkt = `UNIT["${unitName}",${unitSize}]`;
  const wkt = `PROJCS["${escape(name)}",${geogcsWkt(datum.name, datum, `+proj=longlat ${datum.proj4}`)},PROJECTION["${method.wkt}"],${params.join(',')},${unitWkt}]`;
  return {
    info: {
      epsg: unitSize === 1 ? matchingUtmCode(geo, datum) : null,
      name,
      wkt,
      geographic: false
    },
    proj4: definition,
    problems: [],
    notes: datum.notes
  };
}

/** Projection parameters, with the fallbacks GDAL applies when a writer used a sibling key. */
function methodOf(
  geo: IGeoKeys,
  unitSize: number,
  toDegrees: number
): IMethod | string {
  const projection = numberKey(geo, GeoKey.Projection);
  if (projection !== undefined && projection !== USER_DEFINED) {
    // EPSG conversion codes 16001..16060 / 16101..16160 are UTM zones north / south.
    const zone = projection % 100;
    const family = Math.floor(projection / 100);
    if ((family === 160 || family === 161) && zone >= 1 && zone <= 60) {
      const south = family === 161;
      return {
        proj: 'utm',
        wkt: 'Transverse_Mercator',
        params: [
          ['zone', '', zone],
          ...(south
            ? ([['south', '', 1]] as MethodParam[])
            : []),
          ['', 'latitude_of_origin', 0],
          ['', 'central_meridian', zone * 6 - 183],
          ['', 'scale_factor', 0.9996],
          ['', 'false_easting', 500000],
          ['', 'false_northing', south ? 10000000 : 0]
        ]
      };
    }
    if (numberKey(geo, GeoKey.ProjCoordTrans) === undefined) {
      return `the projection is EPSG conversion ${projection}, which we cannot rebuild without its parameters`;
    }
  }
  const first = (...ids: number[]) => {
    for (const id of ids) {
      const value = numberKey(geo, id);
      if (value !== undefined) {
        return value;
      }
    }
    return undefined;
  };
  const angle = (...ids: number[]) => (first(...ids) ?? 0) * toDegrees;
  const metres = (...ids: number[]) => (first(...ids) ?? 0) * unitSize;
  const scale = (...ids: number[]) => first(...ids) ?? 1;
  const natLat = () =>
    angle(
      GeoKey.ProjNatOriginLat,
      GeoKey.ProjFalseOriginLat,
      GeoKey.ProjCenterLat
    );
  const natLong = () =>
    angle(
      GeoKey.ProjNatOriginLong,
      GeoKey.ProjFalseOriginLong,
      GeoKey.ProjCenterLong
    );
  const fe = () =>
    metres(GeoKey.ProjFalseEasting, GeoKey.ProjFalseOriginEasting);
  const fn = () =>
    metres(GeoKey.ProjFalseNorthing, GeoKey.ProjFalseOriginNorthing);
  const k0 = () => scale(GeoKey.ProjScaleAtNatOrigin, GeoKey.ProjScaleAtCenter);
  const falseEastingNorthing = (): MethodParam[] => [
    ['x_0', 'false_easting', fe()],
    ['y_0', 'false_northing', fn()]
  ];
  // Transverse Mercator and Oblique Stereographic take the same parameters.
  const naturalOriginAndScale = (): MethodParam[] => [
    ['lat_0', 'latitude_of_origin', natLat()],
    ['lon_0', 'central_meridian', natLong()],
    ['k', 'scale_factor', k0()],
    ...falseEastingNorthing()
  ];
  // The two-parallel conics (Lambert Conformal 2SP, Albers) are placed by their false origin.
  const parallelsAndFalseOrigin = (): MethodParam[] => [
    ['lat_1', 'standard_parallel_1', angle(GeoKey.ProjStdParallel1)],
    ['lat_2', 'standard_parallel_2', angle(GeoKey.ProjStdParallel2)],
    [
      'lat_0',
      'latitude_of_origin',
      angle(
        GeoKey.ProjFalseOriginLat,
        GeoKey.ProjNatOriginLat,
        GeoKey.ProjCenterLat
      )
    ],
    [
      'lon_0',
      'central_meridian',
      angle(
        GeoKey.ProjFalseOriginLong,
        GeoKey.ProjNatOriginLong,
        GeoKey.ProjCenterLong
      )
    ],
    [
      'x_0',
      'false_easting',
      metres(GeoKey.ProjFalseOriginEasting, GeoKey.ProjFalseEasting)
    ],
    [
      'y_0',
      'false_northing',
      metres(GeoKey.ProjFalseOriginNorthing, GeoKey.ProjFalseNorthing)
    ]
  ];
  const transformation = numberKey(geo, GeoKey.ProjCoordTrans);
  switch (transformation) {
    case 1:
      return {
        proj: 'tmerc',
        wkt: 'Transverse_Mercator',
        params: naturalOriginAndScale()
      };
    case 7: {
      const standard = first(GeoKey.ProjStdParallel1);
      return {
        proj: 'merc',
        wkt: standard !== undefined ? 'Mercator_2SP' : 'Mercator_1SP',
        params: [
          standard !== undefined
            ? ['lat_ts', 'standard_parallel_1', standard * toDegrees]
            : ['k', 'scale_factor', k0()],
          ['lon_0', 'central_meridian', natLong()],
          ...falseEastingNorthing()
        ]
      };
    }
    case 8:
      return {
        proj: 'lcc',
        wkt: 'Lambert_Conformal_Conic_2SP',
        params: parallelsAndFalseOrigin()
      };
    case 9:
      return {
        proj: 'lcc',
        wkt: 'Lambert_Conformal_Conic_1SP',
        params: [
          ['lat_1', '', natLat()],
          ['lat_0', 'latitude_of_origin', natLat()],
          ['lon_0', 'central_meridian', natLong()],
          ['k_0', 'scale_factor', k0()],
          ...falseEastingNorthing()
        ]
      };
    case 10:
      return {
        proj: 'laea',
        wkt: 'Lambert_Azimuthal_Equal_Area',
        params: [
          [
            'lat_0',
            'latitude_of_center',
            angle(GeoKey.ProjCenterLat, GeoKey.ProjNatOriginLat)
          ],
          [
            'lon_0',
            'longitude_of_center',
            angle(GeoKey.ProjCenterLong, GeoKey.ProjNatOriginLong)
          ],
          ...falseEastingNorthing()
        ]
      };
    case 11:
      return {
        proj: 'aea',
        wkt: 'Albers_Conic_Equal_Area',
        params: parallelsAndFalseOrigin()
      };
    case 16:
      return {
        proj: 'sterea',
        wkt: 'Oblique_Stereographic',
        params: naturalOriginAndScale()
      };
    case 17:
      return {
        proj: 'eqc',
        wkt: 'Equirectangular',
        params: [
          ['lat_ts', 'standard_parallel_1', angle(GeoKey.ProjStdParallel1)],
          ['lon_0', 'central_meridian', natLong()],
          ...falseEastingNorthing()
        ]
      };
    case undefined:
      return 'a user-defined projected CRS without a projection method (ProjCoordTransGeoKey)';
    default:
      return `the user-defined projection method ${transformation} (GeoTIFF coordinate transformation code) is not supported`;
  }
}

/** A user-defined UTM zone on WGS 84 in metres is EPSG:326zz / 327zz under another spelling. */
function matchingUtmCode(geo: IGeoKeys, datum: IDatum): number | null {
  const projection = numberKey(geo, GeoKey.Projection);
  if (projection === undefined || !/\+datum=WGS84\b/.test(datum.proj4)) {
    return null;
  }
  const zone = projection % 100;
  const family = Math.floor(projection / 100);
  if (zone >= 1 && zone <= 60 && (family === 160 || family === 161)) {
    return (family === 160 ? 32600 : 32700) + zone;
  }
  return null;
}

function geogcsWkt(name: string, datum: IDatum, definition: string): string {
  let spheroid = 'SPHEROID["unknown",0,0]';
  try {
    const parsed = proj4.Proj(definition) as unknown as {
      a: number;
      rf?: number;
      b: number;
    };
    const rf =
      parsed.rf ??
      (parsed.a === parsed.b ? 0 : parsed.a / (parsed.a - parsed.b));
    spheroid = `SPHEROID["${escape(datum.name)}",${parsed.a},${rf}]`;
  } catch {
    // keep the placeholder: the WKT only describes, the PROJ string is what transforms
  }
  const pm = /\+pm=(\S+)/.exec(datum.proj4)?.[1];
  return `GEOGCS["${escape(name)}",DATUM["${escape(datum.name)}",${spheroid}],PRIMEM["${pm ? 'user-defined' : 'Greenwich'}",${pm && Number.isFinite(Number(pm)) ? pm : 0}],UNIT["degree",0.0174532925199433]]`;
}

function escape(text: string): string {
  return text.replace(/"/g, '""');
}
