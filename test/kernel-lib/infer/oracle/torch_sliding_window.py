"""The same FC-Siam-diff in PyTorch with a straightforward sliding window, the reference of
bench/infer.ts: load both images whole (raw pixel-interleaved uint8 files, H x W x 3: .venv-oracles
has no GDAL), run windows of the same size and stride in batches under torch.no_grad(), average
overlaps with the same cosine weights, threshold, and write the probability (uint8 x 255) and the
mask as raw files. Prints timings as JSON.
usage: torch_sliding_window.py WEIGHTS_DIR BEFORE.raw AFTER.raw HEIGHT WIDTH OUT_PREFIX TILE OVERLAP MARGIN BATCH THREADS MODEL_WIDTH"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "train", "oracle"))
from fc_siam_diff import FCSiamDiff  # noqa: E402
import tensors  # noqa: E402



def origins(length, tile, stride, align=16):
    out = [0]
    while out[-1] + tile < length:
        nxt = out[-1] + stride
        out.append(-(-(length - tile) // align) * align if nxt + tile >= length else nxt)
    return out


def axis_weights(starts, length, tile, margin, ramp):
    ws = []
    for o in starts:
        w = np.ones(tile, dtype=np.float64)
        for i in range(tile):
            v = 1.0
            for d, inner in ((i, o > 0), (tile - 1 - i, o + tile < length)):
                if inner:
                    v = min(v, 0.0 if d < margin else 1.0 if d >= margin + ramp else np.sin(np.pi / 2 * (d - margin + 0.5) / ramp) ** 2)
            w[i] = v
        ws.append(w.astype(np.float32))
    return ws


def main():
    weights, before_path, after_path = sys.argv[1:4]
    h, w = int(sys.argv[4]), int(sys.argv[5])
    out_prefix = sys.argv[6]
    tile, overlap, margin, batch, threads, width = map(int, sys.argv[7:13])
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model = FCSiamDiff(bands=3, width=width, dropout=0.0)
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.read(weights).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    model.eval()
    b = np.fromfile(before_path, dtype=np.uint8).reshape(h, w, 3).transpose(2, 0, 1).astype(np.float32) / 255.0
    a = np.fromfile(after_path, dtype=np.uint8).reshape(h, w, 3).transpose(2, 0, 1).astype(np.float32) / 255.0
    stride = tile - overlap
    ramp = overlap - 2 * margin
    xs, ys = origins(w, tile, stride), origins(h, tile, stride)
    wx, wy = axis_weights(xs, w, tile, margin, ramp), axis_weights(ys, h, tile, margin, ramp)
    acc = np.zeros((h, w), dtype=np.float32)
    norm = np.zeros((h, w), dtype=np.float32)

    def crop(img, x, y):
        out = np.zeros((3, tile, tile), dtype=np.float32)
        part = img[:, y:y + tile, x:x + tile]
        out[:, :part.shape[1], :part.shape[2]] = part
        return out

    windows = [(j, k) for j in range(len(ys)) for k in range(len(xs))]
    t1 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            chunk = windows[i:i + batch]
            tb = torch.from_numpy(np.stack([crop(b, xs[k], ys[j]) for j, k in chunk]))
            ta = torch.from_numpy(np.stack([crop(a, xs[k], ys[j]) for j, k in chunk]))
            p = torch.sigmoid(model(tb, ta))[:, 0].numpy()
            for n, (j, k) in enumerate(chunk):
                x, y = xs[k], ys[j]
                wgt = np.outer(wy[j], wx[k])
                hh, ww = min(tile, h - y), min(tile, w - x)
                acc[y:y + hh, x:x + ww] += (p[n] * wgt)[:hh, :ww]
                norm[y:y + hh, x:x + ww] += wgt[:hh, :ww]
    t2 = time.perf_counter()
    prob = acc / norm
    np.round(prob * 255).astype(np.uint8).tofile(f"{out_prefix}.probability.u8")
    (prob > 0.5).astype(np.uint8).tofile(f"{out_prefix}.mask.u8")
    t3 = time.perf_counter()
    prob.astype("<f4").tofile(f"{out_prefix}.probability.f32")  # for the comparison, not timed
    print(json.dumps({"seconds": t3 - t0, "modelSeconds": t2 - t1, "windows": len(windows),
                      "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
