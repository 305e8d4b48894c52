// Public surface of change-map inference (re-exported by the package as `inference`, with `infer`
// itself at the top level): sliding-window inference over whole scenes, change-map COGs, change
// polygons, and the pieces they are made of.
export { infer, type IInferOptions, type IInferenceResult, type IInferenceOutputs, type IPairInput, type RasterRef } from './infer';
export { prepareModel, InferenceRuntimeError, type InferenceModel, type IPreparedModel } from './model';
export { runEngine, InferenceCancelledError, CONFUSION_CLASSES, type INormalize, type ProbabilityEncoding, type IEngineResult } from './engine';
export { planWindows, type IWindowLayout, type IWindowOptions } from './windows';
export { alignTo, type IAlignment, type Resampling, type IWindowReader } from './align';
export { openRaster, openRasterBytes, type IRasterSource, type IGrid, type RasterLocation, type SampleType } from './raster-source';
export { CogStreamWriter, type ICogStreamOptions, type ICogStreamState } from './cog-stream';
export { Polygonizer, polygonizeMask, type IPixelPolygon } from './polygonize';
export { toChangePolygons, changePolygonsGeoJson, changePolygonsGeoPackage, type IChangePolygon, type IPolygonOptions } from './vector';
export { registerInferJob, runInferJob, INFER_JOB, type IInferJobData, type InferJobResult } from './job';
