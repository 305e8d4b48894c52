"""PyTorch oracle for the training tests: loads FC-Siam-diff weights and a batch written by the
test, runs N Adam steps with BCEWithLogitsLoss and writes the loss and every parameter gradient
per step, the parameters and running statistics after the last step, and the eval-mode logits of
the initial weights (and, given an exported ONNX model, what Python's onnxruntime computes with
it). Usage: train_oracle.py IN_DIR OUT_DIR CONFIG_JSON"""
import json
import sys

import torch

from fc_siam_diff import FCSiamDiff
from tensors import eval_logits, read, write

torch.use_deterministic_algorithms(True)
src, dst, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
torch.set_num_threads(config.get("threads", 1))
tensors = read(src)
model = FCSiamDiff(bands=config["bands"], width=config["width"], classes=1, dropout=0.0)
state = model.state_dict()
for name in state:
    if name.endswith("num_batches_tracked"):
        continue
    state[name] = torch.from_numpy(tensors[name].copy())
model.load_state_dict(state)
before, after, mask = (torch.from_numpy(tensors[k].copy()) for k in ("before", "after", "mask"))

out = {}
out.update(eval_logits(model, tensors, config))
opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
loss_fn = torch.nn.BCEWithLogitsLoss()
losses = []
for step in range(config["steps"]):
    opt.zero_grad()
    loss = loss_fn(model(before, after), mask)
    loss.backward()
    losses.append(loss.item())
    for name, p in model.named_parameters():
        out[f"step{step + 1}.grad:{name}"] = p.grad.numpy().copy()
    opt.step()
for name, value in model.state_dict().items():
    if not name.endswith("num_batches_tracked"):
        out[f"final:{name}"] = value.numpy()
out["losses"] = losses
write(dst, out)
