"""PyTorch side of bench/gpu-train.ts: eager training steps of FC-Siam-diff (Adam,
BCEWithLogitsLoss) on one CUDA device, random data; prints JSON {ms_per_step, device}.
Usage: train_gpu.py BATCH SIZE WIDTH STEPS"""
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "test", "kernel-lib", "train", "oracle"))
from fc_siam_diff import FCSiamDiff  # noqa: E402

batch, size, width, steps = (int(v) for v in sys.argv[1:5])
device = torch.device("cuda")
torch.manual_seed(0)
model = FCSiamDiff(bands=3, width=width, classes=1, dropout=0.2).to(device).train()
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
    return loss.item()  # synchronises, as reading ours' loss does


for _ in range(3):
    step()  # warm-up (cuDNN picks its algorithms)
times = []
for _ in range(steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
print(json.dumps({"ms_per_step": 1000 * statistics.median(times), "device": torch.cuda.get_device_name(0)}))
