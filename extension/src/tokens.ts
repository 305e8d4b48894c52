// Service tokens for the changelab side panels. Later plugins (live data from the catalog
// service, map previews) require these tokens to reach the panels instead of searching the shell.
import { Token } from '@lumino/coreutils';
import type { DatasetVersionsPanel } from './datasets';
import type { ValidationResultsPanel } from './validation';
import type { MapPreviewsPanel } from './maps';

/** The left-side panel that lists dataset versions. */
export const IDatasetVersionsPanel = new Token<DatasetVersionsPanel>(
  'changelab:IDatasetVersionsPanel',
  'The left-side panel listing dataset versions (DVC-format commits of chips and labels).'
);

/** The left-side panel that lists validation results. */
export const IValidationResultsPanel = new Token<ValidationResultsPanel>(
  'changelab:IValidationResultsPanel',
  'The left-side panel listing validation results (expectation suites run on datasets and tables).'
);

/** The left-side panel that shows map previews. */
export const IMapPreviewsPanel = new Token<MapPreviewsPanel>(
  'changelab:IMapPreviewsPanel',
  'The left-side panel with map previews of images, pairs and change maps.'
);
