"""PyTorch side of bench/train-step.ts: eager CPU training steps of FC-Siam-diff or
siam-resnet18-diff (Adam, BCEWithLogitsLoss) on random data; prints JSON
{ms_per_step, peak_rss_mb, threads}.
Usage: bench_step.py BATCH SIZE WIDTH STEPS THREADS [MODEL]"""
import json
import resource
import sys
import time

import torch

from fc_siam_diff import FCSiamDiff
from siam_resnet import SiamResNet18Diff

batch, size, width, steps, threads = (int(v) for v in sys.argv[1:6])
torch.set_num_threads(threads)
torch.manual_seed(0)
MODELS = {"fc-siam-diff": FCSiamDiff, "siam-resnet18-diff": SiamResNet18Diff}
model = MODELS[sys.argv[6] if len(sys.argv) > 6 else "fc-siam-diff"](bands=3, width=width, classes=1, dropout=0.2).train()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.BCEWithLogitsLoss()
before = torch.randn(batch, 3, size, size)
after = torch.randn(batch, 3, size, size)
mask = (torch.rand(batch, 1, size, size) < 0.2).float()


def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(before, after), mask)
    loss.backward()
    opt.step()
    return loss.item()


step()  # warm-up
times = []
for _ in range(steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
print(json.dumps({"ms_per_step": 1000 * min(times), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "threads": threads}))
