// The on-disk contract of a built dataset, shared by dataset building (writer) and training
// (reader): a folder `<workspace>/datasets/<name>/` holding `manifest.json` and the chips it lists.
// Paths in the manifest are relative to that folder and use '/'.

export type DatasetSplit = 'train' | 'val' | 'test';

/** A chip window in the pixel grid of the pair's before image. */
export interface IChipWindow {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface IDatasetChip {
  /** Unique within the dataset, e.g. "p12-r3-c7". */
  id: string;
  split: DatasetSplit;
  /** Id of the pair (catalog pair id, or a synthetic pair's name). */
  pair: string;
  window: IChipWindow;
  /** Chip files: GeoTIFF (uint8, band-interleaved) or PNG + `.aux.xml`/world-file sidecar. */
  before: string;
  after: string;
  /** Single-band uint8 mask, 1 = change, 0 = no change (absent when the pair has no labels). */
  label?: string;
}

export interface IDatasetImage {
  /** `image_metadata.id` when the image came from the catalog. */
  id?: number;
  key: string;
  etag?: string;
  role: 'before' | 'after' | 'label';
  pair: string;
}

export interface IDatasetManifest {
  /** Format version of this manifest. */
  version: 1;
  name: string;
  created: string;
  /** Chip size in pixels (square). */
  chip: number;
  overlap: number;
  /** Bands per image chip, e.g. 3 for RGB. */
  bands: number;
  seed: string;
  /** How splits were drawn (spatial blocks, fractions). */
  splits: {
    block: number;
    fractions: Record<DatasetSplit, number>;
    /** Chips left out because their window crossed blocks of different splits (or a missing image). */
    dropped?: number;
    /** Per CRS ("EPSG:5186"), the corner the block grid is counted from (CRS units). */
    anchors?: Record<string, [number, number]>;
  };
  images: IDatasetImage[];
  chips: IDatasetChip[];
}

export const MANIFEST_FILE = 'manifest.json';

/** A dataset at one committed version: what a training run records for lineage. */
export interface IDatasetRef {
  name: string;
  /** Git commit of the workspace that holds `<name>.dvc` at this version. */
  rev: string;
  /** The `.dvc` file's out md5 (a `.dir` hash). */
  md5: string;
  /** Folder with manifest.json and the chips, checked out at `rev`. */
  path: string;
  /** `image_metadata.id`s the dataset was built from. */
  imageIds: number[];
}
