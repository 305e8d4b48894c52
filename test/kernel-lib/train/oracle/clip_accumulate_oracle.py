"""PyTorch oracle for gradient clipping, gradient accumulation and learning-rate schedules.
A small conv net (conv3x3-relu-conv3x3-relu-maxpool-conv1x1, weights from the test) is trained on
micro-batches with BCEWithLogitsLoss divided by the accumulation count (as Lightning does),
clip_grad_norm_ before each optimizer step and the learning rate given per step; writes the final
parameters and the gradient norm before each clip. With SCHEDULES, prints the learning rates of
torch.optim.lr_scheduler for the schedules in the config instead.
Usage: clip_accumulate_oracle.py IN_DIR OUT_DIR CONFIG_JSON"""
import json
import sys

import torch

from tensors import read, write

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
src, dst, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

if config.get("schedules"):
    out = {}
    for name, s in config["schedules"].items():
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=s["base"])
        if s["type"] == "step":
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=s["stepSize"], gamma=s["gamma"])
        elif s["type"] == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s["tMax"], eta_min=s["etaMin"])
        elif s["type"] == "warmup-cosine":
            warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=s["startFactor"], total_iters=s["warmup"])
            cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s["tMax"], eta_min=s["etaMin"])
            sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[s["warmup"]])
        lrs = []
        for _ in range(s["steps"]):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        out[name] = lrs
    print(json.dumps(out))
    sys.exit(0)

t = read(src)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.head = torch.nn.Conv2d(8, 1, 1)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.head(torch.nn.functional.max_pool2d(x, 2))


net = Net()
with torch.no_grad():
    for name, p in net.named_parameters():
        p.copy_(torch.from_numpy(t[name].copy()))
k = config["accumulate"]
if config["optimizer"] == "adam":
    opt = torch.optim.Adam(net.parameters(), lr=config["lrs"][0])
else:
    opt = torch.optim.SGD(net.parameters(), lr=config["lrs"][0], momentum=config["momentum"])
loss_fn = torch.nn.BCEWithLogitsLoss()
norms = []
for micro in range(config["micro"]):
    x = torch.from_numpy(t[f"image{micro}"].copy())
    y = torch.from_numpy(t[f"mask{micro}"].copy())
    (loss_fn(net(x), y) / k).backward()
    if (micro + 1) % k == 0:
        norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), config["clip"])))
        for g in opt.param_groups:
            g["lr"] = config["lrs"][micro // k]
        opt.step()
        opt.zero_grad()
out = {name: p.detach().numpy() for name, p in net.named_parameters()}
out["norms"] = norms
write(dst, out)
