"""PyTorch side of bench/train-step.ts (CPU) and bench/gpu-train.ts (CUDA): eager training steps of
FC-Siam-diff or siam-resnet18-diff (Adam, BCEWithLogitsLoss) on random data; prints JSON
{ms_per_step, peak_rss_mb, threads, device}. On CUDA each step ends by reading the loss, which
synchronises, as reading ours does; three warm-up steps let cuDNN pick its algorithms.
Usage: bench_step.py BATCH SIZE WIDTH STEPS THREADS [MODEL] [DEVICE]"""
import json
import resource
import sys
import time

import torch

from fc_siam_diff import FCSiamDiff
from siam_resnet import SiamResNet18Diff

batch, size, width, steps, threads = (int(v) for v in sys.argv[1:6])
kind = sys.argv[6] if len(sys.argv) > 6 else "fc-siam-diff"
device = torch.device(sys.argv[7] if len(sys.argv) > 7 else "cpu")
torch.set_num_threads(threads)
torch.manual_seed(0)
MODELS = {"fc-siam-diff": FCSiamDiff, "siam-resnet18-diff": SiamResNet18Diff}
model = MODELS[kind](bands=3, width=width, classes=1, dropout=0.2).to(device).train()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.BCEWithLogitsLoss()
before = torch.randn(batch, 3, size, size, device=device)
after = torch.randn(batch, 3, size, size, device=device)
mask = (torch.rand(batch, 1, size, size, device=device) < 0.2).float()


def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(before, after), mask)
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(3 if device.type == "cuda" else 1):
    step()  # warm-up
times = []
for _ in range(steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
print(json.dumps({
    "ms_per_step": 1000 * min(times),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "threads": threads,
    "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
}))
