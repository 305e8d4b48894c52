// Sliding-window inference against its oracles: the stitched probability map equals ONNX Runtime
// on the whole image at once (when the dropped window margin covers the network's reach), our
// COGs read in GDAL with the right size, transform, CRS, overviews, blocks and pixels, and our
// polygons match gdal.Polygonize on the same mask and read in OGR.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError } from '../../../kernel-lib/src/errors';
import { infer, openRaster, InferenceCancelledError, polygonizeMask, type IInferenceResult } from '../../../kernel-lib/src/infer';
import { exportFastInference } from '../../../kernel-lib/src/infer/inference-graph';
import { buildChangeModel, exportInference, parameterValues } from '../../../kernel-lib/src/train/models/fc';
import { tempDir } from '../../helpers';
import { oraclePython, writeTensors } from '../train/oracle';
import { MODEL_OPTIONS, gdalOracle, gdalinfo, testModelValues, writePairFiles, type IPairFiles } from './fixtures';

const SIZE = 320;
const values = testModelValues();
const model = { options: MODEL_OPTIONS, values, name: 'fc-siam-diff-test', version: 'v1' };

let files: IPairFiles;
let root: string;

/** Change probability of ONNX Runtime run once on the whole scene (the model exported at its size). */
async function wholeImageProbability(): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(exportInference(MODEL_OPTIONS, values, { batch: 1, height: SIZE, width: SIZE }));
  const before = await openRaster({ path: files.before });
  const after = await openRaster({ path: files.after });
  try {
    const scale = (a: Float32Array) => a.map(v => v / 255);
    const shape = [1, 3, SIZE, SIZE];
    const out = await session.run({
      before: new ort.Tensor('float32', scale(await before.readWindow(0, 0, SIZE, SIZE)), shape),
      after: new ort.Tensor('float32', scale(await after.readWindow(0, 0, SIZE, SIZE)), shape)
    });
    return (out.logits.data as Float32Array).map(l => 1 / (1 + Math.exp(-l)));
  } finally {
    await Promise.all([before.close(), after.close(), session.release()]);
  }
}

function readGdalPixels(file: string): { values: Float32Array | Uint8Array; info: Record<string, any> } {
  const out = path.join(root, `${path.basename(file)}.raw`);
  const info = gdalOracle(['pixels', file, out]) as Record<string, any>;
  const bytes = fs.readFileSync(out);
  const values = info.dtype === 'float32' ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4) : new Uint8Array(bytes);
  return { values, info };
}

beforeAll(() => {
  root = tempDir('changelab-infer-');
  files = writePairFiles(path.join(root, 'scene'), SIZE);
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('stitched output against the whole image at once', () => {
  let whole: Float32Array;
  beforeAll(async () => {
    whole = await wholeImageProbability();
  });

  const maxDifference = async (tile: number, overlap: number, margin: number, prefix: string) => {
    const result = await infer(model, { before: files.before, after: files.after }, {
      tile,
      overlap,
      margin,
      batch: 2,
      probability: 'float32',
      polygons: false,
      progress: 'none',
      outputPrefix: path.join(root, prefix)
    });
    const { values: stitched } = readGdalPixels(result.outputs.probability);
    let max = 0;
    for (let i = 0; i < whole.length; i++) {
      max = Math.max(max, Math.abs(stitched[i] - whole[i]));
    }
    return { max, result };
  };

  it('equals it within float32 rounding when the margin covers the network reach (tile 256, overlap 224, margin 112)', async () => {
    // FC-Siam-diff's four poolings and 3x3 convolutions reach about 100 pixels; windows whose
    // inner 112 pixels are dropped see all of it, windows start on the pooling grid (stride 32),
    // and the last window ends on the image edge, so every kept pixel is computed from the same
    // inputs as in the whole-image run. Tolerance 1e-5: float32 sums in another order.
    const { max, result } = await maxDifference(256, 224, 112, 'exact');
    expect(result.windows).toBe(9); // origins 0, 32, 64 on each axis
    expect(max).toBeLessThan(1e-5);
  });

  it('equals PyTorch (the authors\' FC-Siam-diff, same weights) run on the whole image at once', async () => {
    const python = oraclePython();
    if (!python) {
      return; // .venv-oracles is optional outside `npm test`; with CHANGELAB_TEST_REQUIRE_SERVICES=1 its absence fails above
    }
    const { result } = await maxDifference(256, 224, 112, 'torch-exact');
    const { values: stitched } = readGdalPixels(result.outputs.probability);
    const shapes = new Map(buildChangeModel(MODEL_OPTIONS, { batch: 1, height: 16, width: 16 }, 'eval').graph.parameters.map(p => [p.tensor.name, p.tensor.shape]));
    const weights = path.join(root, 'torch-weights');
    writeTensors(weights, Object.fromEntries(Object.entries(values).map(([name, v]) => [name, { data: v as Float32Array, shape: shapes.get(name)! }])));
    const raw = async (file: string) => {
      const source = await openRaster({ path: file });
      const planes = await source.readWindow(0, 0, SIZE, SIZE);
      await source.close();
      const interleaved = new Uint8Array(SIZE * SIZE * 3);
      for (let i = 0; i < SIZE * SIZE; i++) {
        for (let b = 0; b < 3; b++) {
          interleaved[i * 3 + b] = planes[b * SIZE * SIZE + i];
        }
      }
      const out = path.join(root, `${path.basename(file)}.raw`);
      fs.writeFileSync(out, interleaved);
      return out;
    };
    const prefix = path.join(root, 'torch-whole');
    // One window the size of the image: PyTorch's plain forward pass on the whole scene.
    execFileSync(python, [
      path.join(__dirname, 'oracle', 'torch_sliding_window.py'), weights, await raw(files.before), await raw(files.after), String(SIZE), String(SIZE), prefix,
      String(SIZE), '0', '0', '1', '2', String(MODEL_OPTIONS.width)
    ], { encoding: 'utf8' });
    const torch = new Float32Array(fs.readFileSync(`${prefix}.probability.f32`).buffer.slice(0));
    let max = 0;
    torch.forEach((p, i) => (max = Math.max(max, Math.abs(p - stitched[i]))));
    // ONNX Runtime and PyTorch sum convolutions in different orders: float32 tolerance 1e-5.
    expect(max).toBeLessThan(1e-5);
  });

  it('differs near inner window edges when the margin is smaller than that reach (the documented border effect)', async () => {
    // Same model, windows of 128 with a 16-pixel margin: zero padding at window edges reaches kept
    // pixels. The cosine blend keeps it small and seamless, but it is not the whole-image answer.
    const { max } = await maxDifference(128, 64, 16, 'blended');
    expect(max).toBeGreaterThan(1e-5);
    expect(max).toBeLessThan(0.05);
  });
});

describe('change-map COGs in GDAL', () => {
  let result: IInferenceResult;
  beforeAll(async () => {
    result = await infer(model, { before: files.before, after: files.after }, {
      tile: 128,
      overlap: 64,
      batch: 3,
      progress: 'none',
      groundTruth: files.mask,
      threshold: 0.45,
      runId: 'cog-test'
    });
  });

  it('writes probability, mask and confusion COGs beside the before image', () => {
    expect(result.outputs.probability).toBe(path.join(files.dir, 'before.change-probability.tif'));
    expect(result.outputs.mask).toBe(path.join(files.dir, 'before.change-mask.tif'));
    expect(result.outputs.confusion).toBe(path.join(files.dir, 'before.confusion.tif'));
    expect(fs.readdirSync(files.dir).filter(f => f.includes('partial'))).toEqual([]);
  });

  it('reads with the before image size, geotransform, CRS, blocks and overviews in gdalinfo', () => {
    const reference = gdalinfo(files.before);
    for (const file of [result.outputs.probability, result.outputs.mask, result.outputs.confusion!]) {
      const info = gdalinfo(file);
      expect(info.size).toEqual(reference.size);
      expect(info.geoTransform).toEqual(reference.geoTransform);
      expect(info.coordinateSystem.wkt).toEqual(reference.coordinateSystem.wkt);
      expect(info.metadata.IMAGE_STRUCTURE.LAYOUT).toBe('COG');
      expect(info.bands).toHaveLength(1);
      expect(info.bands[0].block).toEqual([256, 256]);
      expect(info.bands[0].overviews.map((o: { size: number[] }) => o.size)).toEqual([[160, 160]]);
      expect(info.metadata[''].CHANGELAB_RUN_ID).toBe('cog-test');
    }
    const probability = gdalinfo(result.outputs.probability);
    expect(probability.bands[0].type).toBe('Byte');
    expect(probability.bands[0].scale).toBeCloseTo(1 / 255, 12);
    expect(JSON.parse(probability.metadata[''].CHANGELAB_ALIGNMENT).mode).toBe('identical');
    const confusion = gdalinfo(result.outputs.confusion!);
    expect(confusion.bands[0].colorInterpretation).toBe('Palette');
  });

  it('has pixels in GDAL that agree: mask = probability > threshold, confusion = mask vs truth, metrics from them', () => {
    const probability = readGdalPixels(result.outputs.probability).values;
    const mask = readGdalPixels(result.outputs.mask).values;
    const confusion = readGdalPixels(result.outputs.confusion!);
    const truth = readGdalPixels(files.mask).values;
    expect(confusion.info.colors).toEqual([[0, 0, 0], [46, 160, 67], [230, 57, 70], [255, 183, 3]]);
    const counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
    let changed = 0;
    for (let i = 0; i < mask.length; i++) {
      const positive = probability[i] / 255 > 0.45;
      expect(mask[i]).toBe(positive ? 1 : 0);
      changed += mask[i];
      const t = truth[i] === 1;
      const cls = positive ? (t ? 1 : 2) : t ? 3 : 0;
      expect(confusion.values[i]).toBe(cls);
      counts[(['tn', 'tp', 'fp', 'fn'] as const)[cls]]++;
    }
    expect(result.changedPixels).toBe(changed);
    expect(result.confusion).toEqual(counts);
    // torchmetrics' BinaryJaccardIndex / F1 definitions on the summed counts.
    expect(result.metrics!.iou).toBeCloseTo(counts.tp / (counts.tp + counts.fp + counts.fn), 12);
    expect(result.metrics!.f1).toBeCloseTo((2 * counts.tp) / (2 * counts.tp + counts.fp + counts.fn), 12);
    expect(result.metrics!.precision).toBeCloseTo(counts.tp / (counts.tp + counts.fp), 12);
    expect(result.metrics!.recall).toBeCloseTo(counts.tp / (counts.tp + counts.fn), 12);
    expect(changed).toBeGreaterThan(100);
    expect(changed).toBeLessThan(mask.length - 100);
  });

  it('polygons match gdal.Polygonize on the same mask: count, ring counts and areas', () => {
    const gdal = (gdalOracle(['polygonize', result.outputs.mask]) as Array<{ area: number; rings: number }>).sort((a, b) => a.area - b.area || a.rings - b.rings);
    const vector = gdalOracle(['vector', result.outputs.gpkg!]) as { count: number; features: Array<{ area_crs: number; planar: number; rings: number }> };
    const ours = [...vector.features].sort((a, b) => a.planar - b.planar || a.rings - b.rings);
    expect(result.polygons).toBe(gdal.length);
    expect(ours).toHaveLength(gdal.length);
    ours.forEach((feature, i) => {
      // Pixel outlines in metres at 0.5 m: areas are exact multiples of 0.25 m².
      expect(feature.planar).toBeCloseTo(gdal[i].area, 6);
      expect(feature.area_crs).toBeCloseTo(gdal[i].area, 6);
      expect(feature.rings).toBe(gdal[i].rings);
    });
  });

  it('exports GeoJSON (EPSG:4326) and GeoPackage (image CRS) that OGR reads: count, geometry type, CRS, areas', () => {
    const json = gdalOracle(['vector', result.outputs.geojson!]) as Record<string, any>;
    const gpkg = gdalOracle(['vector', result.outputs.gpkg!]) as Record<string, any>;
    expect(json.driver).toBe('GeoJSON');
    expect(gpkg.driver).toBe('GPKG');
    for (const v of [json, gpkg]) {
      expect(v.count).toBe(result.polygons);
      expect(v.geometry).toBe('Polygon');
    }
    expect(json.epsg).toBe(4326);
    expect(gpkg.epsg).toBe(5186);
    // The m² area (authalic sphere from lon/lat) agrees with the planar TM area within 0.5%.
    for (const f of gpkg.features as Array<{ area_m2: number; planar: number }>) {
      expect(Math.abs(f.area_m2 - f.planar) / f.planar).toBeLessThan(0.005);
    }
    const summary = execFileSync('ogrinfo', ['-al', '-so', result.outputs.gpkg!], { encoding: 'utf8' });
    expect(summary).toContain(`Feature Count: ${result.polygons}`);
    expect(summary).toContain('Geometry: Polygon');
  });
});

describe('alignment of the after image onto the before grid', () => {
  it('resamples a coarser after image and reprojects one in another CRS, like gdalwarp -r bilinear', async () => {
    const coarse = path.join(root, 'after-1m.tif');
    const utm = path.join(root, 'after-utm.tif');
    execFileSync('gdal_translate', ['-q', '-tr', '1', '1', '-r', 'average', files.after, coarse]);
    execFileSync('gdalwarp', ['-q', '-t_srs', 'EPSG:32652', '-r', 'bilinear', files.after, utm]);
    for (const [after, mode] of [[coarse, 'resampled'], [utm, 'reprojected']] as const) {
      const result = await infer(model, { before: files.before, after }, {
        tile: 128,
        overlap: 64,
        polygons: false,
        progress: 'none',
        outputPrefix: path.join(root, `aligned-${mode}`)
      });
      expect(result.alignment.after.mode).toBe(mode);
      expect(result.grid.width).toBe(SIZE);
      const info = gdalinfo(result.outputs.probability);
      expect(info.geoTransform).toEqual(gdalinfo(files.before).geoTransform);
      expect(JSON.parse(info.metadata[''].CHANGELAB_ALIGNMENT).resampling).toBe('bilinear');
    }
    // Our alignment of the UTM image against GDAL warping it back onto the before grid.
    const { alignTo } = await import('../../../kernel-lib/src/infer');
    const before = await openRaster({ path: files.before });
    const source = await openRaster({ path: utm });
    const warped = path.join(root, 'utm-back.tif');
    const [x0, px, , y0, , py] = before.grid.transform;
    execFileSync('gdalwarp', ['-q', '-t_srs', 'EPSG:5186', '-te', String(x0), String(y0 + SIZE * py), String(x0 + SIZE * px), String(y0), '-ts', String(SIZE), String(SIZE), '-r', 'bilinear', utm, warped]);
    const ours = await alignTo(source, before.grid, 'bilinear').readWindow(0, 0, SIZE, SIZE);
    const reference = await openRaster({ path: warped });
    const theirs = await reference.readWindow(0, 0, SIZE, SIZE);
    let sum = 0;
    let n = 0;
    for (let b = 0; b < 3; b++) {
      for (let y = 8; y < SIZE - 8; y++) {
        for (let x = 8; x < SIZE - 8; x++) {
          const i = b * SIZE * SIZE + y * SIZE + x;
          sum += Math.abs(ours[i] - theirs[i]);
          n++;
        }
      }
    }
    // Both are bilinear; GDAL rounds to bytes and its PROJ pipeline may differ in the last mm.
    expect(sum / n).toBeLessThan(1.0);
    await Promise.all([before.close(), source.close(), reference.close()]);
  });

  it('refuses a CRS it cannot transform, naming it', async () => {
    const local = path.join(root, 'after-local.tif');
    execFileSync('gdal_translate', ['-q', '-a_srs', '+proj=ortho +lat_0=37 +lon_0=127 +datum=WGS84', files.after, local]);
    await expect(infer(model, { before: files.before, after: local }, { tile: 128, overlap: 64, progress: 'none', polygons: false })).rejects.toThrow(/CRS|EPSG|PROJ/);
  });
});

describe('inference graph', () => {
  it('computes what the exported training model computes (batch norm folded, decoder as convolutions), for all three networks', async () => {
    for (const kind of ['fc-ef', 'fc-siam-conc', 'fc-siam-diff'] as const) {
      const options = { ...MODEL_OPTIONS, kind };
      const kindValues = parameterValues(buildChangeModel(options, { batch: 1, height: 16, width: 16 }, 'eval'));
      // Running statistics away from (0, 1), so that folding them is exercised.
      let seed = 3;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
      for (const [name, value] of Object.entries(kindValues)) {
        if (/running_(mean|var)$/.test(name)) {
          (value as Float32Array).forEach((_, i) => ((value as Float32Array)[i] = name.endsWith('var') ? 0.5 + random() : random() - 0.5));
        }
      }
      const shape = [2, 3, 64, 64];
      const feeds = {
        before: new ort.Tensor('float32', Float32Array.from({ length: 2 * 3 * 64 * 64 }, random), shape),
        after: new ort.Tensor('float32', Float32Array.from({ length: 2 * 3 * 64 * 64 }, random), shape)
      };
      const outputs: Float32Array[] = [];
      for (const bytes of [exportInference(options, kindValues, { batch: 2, height: 64, width: 64 }), exportFastInference(options, kindValues, { batch: 2, height: 64, width: 64 })]) {
        const session = await ort.InferenceSession.create(bytes);
        outputs.push((await session.run(feeds)).logits.data as Float32Array);
        await session.release();
      }
      let max = 0;
      let scale = 0;
      outputs[0].forEach((v, i) => {
        max = Math.max(max, Math.abs(v - outputs[1][i]));
        scale = Math.max(scale, Math.abs(v));
      });
      // float32 arithmetic in another order: relative 1e-5 of the largest logit.
      expect(max).toBeLessThan(1e-5 * Math.max(1, scale));
    }
  });
});

describe('other models', () => {
  it('runs siam-resnet18-diff from its options and weights: one window over the scene equals the exported model on the whole image', async () => {
    const options = { kind: 'siam-resnet18-diff' as const, bands: 3, width: 8 };
    const resnetValues = parameterValues(buildChangeModel(options, { batch: 1, height: 32, width: 32 }, 'eval'));
    const result = await infer({ options, values: resnetValues }, { before: files.before, after: files.after }, {
      tile: SIZE,
      overlap: 0,
      batch: 1,
      probability: 'float32',
      polygons: false,
      progress: 'none',
      outputPrefix: path.join(root, 'resnet')
    });
    expect(result.windows).toBe(1);
    const { values: stitched } = readGdalPixels(result.outputs.probability);
    const session = await ort.InferenceSession.create(exportInference(options, resnetValues, { batch: 1, height: SIZE, width: SIZE }));
    const before = await openRaster({ path: files.before });
    const after = await openRaster({ path: files.after });
    const scale = (a: Float32Array) => a.map(v => v / 255);
    const shape = [1, 3, SIZE, SIZE];
    const out = await session.run({
      before: new ort.Tensor('float32', scale(await before.readWindow(0, 0, SIZE, SIZE)), shape),
      after: new ort.Tensor('float32', scale(await after.readWindow(0, 0, SIZE, SIZE)), shape)
    });
    await Promise.all([before.close(), after.close(), session.release()]);
    const whole = (out.logits.data as Float32Array).map(l => 1 / (1 + Math.exp(-l)));
    let max = 0;
    whole.forEach((v, i) => (max = Math.max(max, Math.abs(v - stitched[i]))));
    expect(max).toBeLessThan(1e-5);
    // Its windows keep its /32 pooling grid: a stride of 80 (fine for the FC networks) is refused.
    await expect(
      infer({ options, values: resnetValues }, { before: files.before, after: files.after }, { tile: 128, overlap: 48, progress: 'none', polygons: false })
    ).rejects.toThrow(/tile - overlap must be a positive multiple of 32/);
  });
});

describe('options and failures', () => {
  it('refuses windows off the pooling grid and a model exported for another tile size', async () => {
    await expect(infer(model, { before: files.before, after: files.after }, { tile: 128, overlap: 40, progress: 'none' })).rejects.toThrow(ConfigError);
    const fixed = exportInference(MODEL_OPTIONS, values, { batch: 1, height: 64, width: 64 });
    await expect(infer({ onnx: fixed }, { before: files.before, after: files.after }, { tile: 128, overlap: 64, progress: 'none' })).rejects.toThrow(
      /64 x 64 windows but tile is 128/
    );
  });

  it('cancels through an AbortSignal and resumes from the checkpoint to the same outputs', async () => {
    const controller = new AbortController();
    const prefix = path.join(root, 'cancel');
    // The same run id: it is written into the COGs' metadata, and the files must match byte for byte.
    // Batches of 3 over 4 windows per row: checkpoints fall inside window rows too.
    const options = { tile: 128, overlap: 64, batch: 3, polygons: false as const, progress: 'none' as const, outputPrefix: prefix, runId: 'resume-test' };
    await expect(
      infer(model, { before: files.before, after: files.after }, {
        ...options,
        signal: controller.signal,
        onProgress: done => {
          if (done >= 6) {
            controller.abort();
          }
        }
      })
    ).rejects.toThrow(InferenceCancelledError);
    const resumed = await infer(model, { before: files.before, after: files.after }, options);
    expect(resumed.resumedFromWindow).toBeGreaterThan(0);
    expect(resumed.windowsRun).toBe(resumed.windows - resumed.resumedFromWindow);
    const fresh = await infer(model, { before: files.before, after: files.after }, { ...options, outputPrefix: path.join(root, 'uncancelled') });
    expect(fresh.windowsRun).toBe(fresh.windows);
    expect(fs.readFileSync(resumed.outputs.probability)).toEqual(fs.readFileSync(fresh.outputs.probability));
    expect(fs.readFileSync(resumed.outputs.mask)).toEqual(fs.readFileSync(fresh.outputs.mask));
  });
});

describe('polygonizer', () => {
  it('keeps holes, separates corner-touching pixels (4-connectivity) and conserves area on random masks', () => {
    const ring = [1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1];
    const polygons = polygonizeMask(ring, 5, 5);
    expect(polygons.map(p => [p.pixels, p.rings.length]).sort()).toEqual([[1, 1], [16, 2]]);
    expect(polygonizeMask([1, 0, 0, 1], 2, 2)).toHaveLength(2);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let trial = 0; trial < 100; trial++) {
      const w = 1 + Math.floor(random() * 40);
      const h = 1 + Math.floor(random() * 40);
      const density = random();
      const mask = Array.from({ length: w * h }, () => (random() < density ? 1 : 0));
      let total = 0;
      for (const p of polygonizeMask(mask, w, h)) {
        let area = 0;
        p.rings.forEach(r => {
          let a = 0;
          for (let i = 0; i < r.length / 2; i++) {
            const j = (i + 1) % (r.length / 2);
            a += r[2 * i] * r[2 * j + 1] - r[2 * j] * r[2 * i + 1];
          }
          area += a / 2;
        });
        expect(area).toBe(p.pixels);
        total += p.pixels;
      }
      expect(total).toBe(mask.reduce((a: number, b: number) => a + b, 0));
    }
  });
});
