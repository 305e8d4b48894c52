"""PyTorch side of bench/infer-throughput.ts: FC-Siam-diff inference (eval mode, torch.inference_mode)
in eager CPU with the weights and inputs the benchmark wrote, for each size: one warm-up batch, then
RUNS timed batches; writes the logits of the first timed batch for the agreement check and prints
JSON {sizes: [{size, ms_per_batch: [...], peak_rss_mb}], threads}.
Usage: infer_throughput.py DIR WIDTH THREADS RUNS SIZE [SIZE ...]
DIR holds weights/ and inputs-<size>/ (tensors.py format); logits go to torch-<size>/."""
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "test", "kernel-lib", "train", "oracle"))

import torch  # noqa: E402

from fc_siam_diff import FCSiamDiff  # noqa: E402
from tensors import read, write  # noqa: E402

folder, width, threads, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sizes = [int(s) for s in sys.argv[5:]]
torch.set_num_threads(threads)
weights = read(os.path.join(folder, "weights"))
model = FCSiamDiff(bands=3, width=width, classes=1, dropout=0.0)
state = model.state_dict()
for name in state:
    if not name.endswith("num_batches_tracked"):
        state[name] = torch.from_numpy(weights[name].copy())
model.load_state_dict(state)
model.eval()

results = []
for size in sizes:
    t = read(os.path.join(folder, f"inputs-{size}"))
    before, after = torch.from_numpy(t["before"].copy()), torch.from_numpy(t["after"].copy())
    times = []
    with torch.inference_mode():
        model(before, after)  # warm-up
        for i in range(runs):
            start = time.perf_counter()
            logits = model(before, after)
            times.append(1000 * (time.perf_counter() - start))
            if i == 0:
                write(os.path.join(folder, f"torch-{size}"), {"logits": logits.numpy()})
    results.append({"size": size, "ms_per_batch": times, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
print(json.dumps({"sizes": results, "threads": torch.get_num_threads()}))
