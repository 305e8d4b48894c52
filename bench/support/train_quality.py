"""PyTorch side of bench/train-quality.ts: trains FC-Siam-diff from the initial weights the benchmark
wrote, on exactly the batches our Trainer saw (same order, same augmentation, written per epoch),
with Adam and BCEWithLogitsLoss(pos_weight), dropout off, then scores the test chips in eval mode
with torchmetrics (BinaryF1Score, BinaryJaccardIndex, threshold 0.5). Prints JSON
{epochs: [{loss, f1, iou}], test: {f1, iou, loss}, seconds, peak_rss_mb}.
Usage: train_quality.py DIR CONFIG_JSON
DIR holds weights/, epoch-<e>/ (before, after, mask stacked over the epoch's batches, in order) and
test/ (before, after, mask); CONFIG has width, lr, pos_weight, epochs, batch, threads, cosine_t_max (null: constant lr; else
lr_t = lr (1 + cos(pi t / T)) / 2 at optimizer step t, as ours and CosineAnnealingLR) and optionally
perturb: every initial weight times (1 + perturb * N(0, 1)) (seeded), for the noise floor: how far
the final scores move when the start differs by float rounding, as ours and PyTorch's do."""
import json
import math
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "test", "kernel-lib", "train", "oracle"))

import torch  # noqa: E402
from torchmetrics.classification import BinaryF1Score, BinaryJaccardIndex  # noqa: E402

from fc_siam_diff import FCSiamDiff  # noqa: E402
from tensors import read  # noqa: E402

folder, config = sys.argv[1], json.loads(sys.argv[2])
torch.set_num_threads(config["threads"])
torch.use_deterministic_algorithms(True)
started = time.perf_counter()
weights = read(os.path.join(folder, "weights"))
model = FCSiamDiff(bands=3, width=config["width"], classes=1, dropout=0.0)
state = model.state_dict()
for name in state:
    if not name.endswith("num_batches_tracked"):
        state[name] = torch.from_numpy(weights[name].copy())
if config.get("perturb"):
    g = torch.Generator().manual_seed(0)
    for name, p in state.items():
        if name.endswith(("weight", "bias")):
            state[name] = p * (1 + config["perturb"] * torch.randn(p.shape, generator=g))
model.load_state_dict(state)
opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(float(config["pos_weight"])))
batch = config["batch"]


def tensors(name):
    t = read(os.path.join(folder, name))
    return tuple(torch.from_numpy(t[k].copy()) for k in ("before", "after", "mask"))


epochs = []
step = 0
for epoch in range(config["epochs"]):
    before, after, mask = tensors(f"epoch-{epoch}")
    model.train()
    f1, iou = BinaryF1Score(threshold=0.5), BinaryJaccardIndex(threshold=0.5)
    loss_sum = 0.0
    for start in range(0, before.shape[0], batch):
        b, a, m = before[start:start + batch], after[start:start + batch], mask[start:start + batch]
        if config.get("cosine_t_max"):
            for group in opt.param_groups:
                group["lr"] = config["lr"] * (1 + math.cos(math.pi * step / config["cosine_t_max"])) / 2
        step += 1
        opt.zero_grad()
        logits = model(b, a)
        loss = loss_fn(logits, m)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * b.shape[0]
        p = torch.sigmoid(logits.detach())
        f1.update(p, m.int())
        iou.update(p, m.int())
    epochs.append({"loss": loss_sum / before.shape[0], "f1": f1.compute().item(), "iou": iou.compute().item()})

before, after, mask = tensors("test")
model.eval()
f1, iou = BinaryF1Score(threshold=0.5), BinaryJaccardIndex(threshold=0.5)
with torch.no_grad():
    logits = model(before, after)
    p = torch.sigmoid(logits)
    f1.update(p, mask.int())
    iou.update(p, mask.int())
    test_loss = loss_fn(logits, mask).item()
print(json.dumps({
    "epochs": epochs,
    "test": {"f1": f1.compute().item(), "iou": iou.compute().item(), "loss": test_loss},
    "seconds": time.perf_counter() - started,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
