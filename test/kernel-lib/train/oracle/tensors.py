"""Tensor exchange with the TypeScript tests: a folder with manifest.json ({name: shape}) and one
little-endian float32 file per tensor, <index>.bin in manifest order."""
import json
import os

import numpy as np


def read(folder):
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    return {
        name: np.fromfile(os.path.join(folder, f"{i}.bin"), dtype="<f4").reshape(shape)
        for i, (name, shape) in enumerate(manifest.items())
    }


def write(folder, tensors):
    os.makedirs(folder, exist_ok=True)
    manifest = {}
    for i, (name, value) in enumerate(tensors.items()):
        a = np.ascontiguousarray(np.asarray(value, dtype="<f4"))
        a.tofile(os.path.join(folder, f"{i}.bin"))
        manifest[name] = list(a.shape)
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f)


def eval_logits(model, tensors, config):
    """The model's logits in eval mode on the batch (and the exported ONNX model's, when config names
    one, run by Python's onnxruntime); leaves the model in train mode."""
    import torch

    out = {}
    if config.get("onnx"):
        import onnxruntime
        session = onnxruntime.InferenceSession(config["onnx"], providers=["CPUExecutionProvider"])
        out["onnx_logits"] = session.run(["logits"], {"before": tensors["before"], "after": tensors["after"]})[0]
    model.eval()
    with torch.no_grad():
        out["eval_logits"] = model(torch.from_numpy(tensors["before"].copy()), torch.from_numpy(tensors["after"].copy())).numpy()
    model.train()
    return out
