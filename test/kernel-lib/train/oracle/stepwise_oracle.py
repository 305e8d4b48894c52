"""PyTorch oracle that follows our trajectory: for each step k it loads the parameters and running
statistics our trainer had before step k (`step{k}:<name>`, k from 1), computes the loss and every
parameter gradient on the batch, then takes one Adam step (its optimizer state carried across
steps) and writes the parameters and running statistics it reaches (`next{k}:<name>`). Gradients
are compared at the same point on both sides, so the comparison measures our step, not how fast
two float32 trajectories of a network with ReLU / max-pool / |x| kinks drift apart.
Also writes the eval-mode logits of the first parameters, and what Python's onnxruntime computes
with the exported model. Usage: stepwise_oracle.py IN_DIR OUT_DIR CONFIG_JSON"""
import json
import sys

import torch

from fc_siam_diff import FCSiamDiff
from siam_resnet import SiamResNet18Diff
from tensors import eval_logits, read, write

torch.use_deterministic_algorithms(True)
src, dst, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
torch.set_num_threads(config.get("threads", 1))
tensors = read(src)
MODELS = {"fc-siam-diff": FCSiamDiff, "siam-resnet18-diff": SiamResNet18Diff}
model = MODELS[config["model"]](bands=config["bands"], width=config["width"], classes=1, dropout=0.0)
names = [n for n in model.state_dict() if not n.endswith("num_batches_tracked")]


def load(prefix):
    state = model.state_dict()
    for name in names:
        state[name] = torch.from_numpy(tensors[f"{prefix}:{name}"].copy())
    model.load_state_dict(state)


before, after, mask = (torch.from_numpy(tensors[k].copy()) for k in ("before", "after", "mask"))
out = {}
load("step1")
out.update(eval_logits(model, tensors, config))
opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
loss_fn = torch.nn.BCEWithLogitsLoss()
losses = []
for step in range(1, config["steps"] + 1):
    load(f"step{step}")  # copies into the same tensors: the optimizer's state carries over
    opt.zero_grad()
    loss = loss_fn(model(before, after), mask)
    loss.backward()
    losses.append(loss.item())
    for name, p in model.named_parameters():
        out[f"step{step}.grad:{name}"] = p.grad.numpy().copy()
    opt.step()
    for name, value in model.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            out[f"next{step}:{name}"] = value.numpy().copy()
out["losses"] = losses
if config.get("float64"):
    # The exact gradient (float64) at each step's point, to tell float32 rounding (both sides)
    # from a wrong rule.
    exact = MODELS[config["model"]](bands=config["bands"], width=config["width"], classes=1, dropout=0.0).double()
    for step in range(1, config["steps"] + 1):
        state = exact.state_dict()
        for name in names:
            state[name] = torch.from_numpy(tensors[f"step{step}:{name}"].astype("float64"))
        exact.load_state_dict(state)
        exact.train()
        exact.zero_grad()
        loss_fn(exact(before.double(), after.double()), mask.double()).backward()
        for name, p in exact.named_parameters():
            out[f"exact{step}.grad:{name}"] = p.grad.numpy().copy()
write(dst, out)
