"""torchmetrics oracle: binary metrics of the change class over several batches of logits and
0/1 targets written by the test (batch<i>.logits, batch<i>.target), accumulated as one epoch.
Usage: metrics_oracle.py IN_DIR -> JSON on stdout"""
import json
import sys

import torch
from torchmetrics.classification import (BinaryAccuracy, BinaryF1Score, BinaryJaccardIndex,
                                         BinaryPrecision, BinaryRecall)

from tensors import read

tensors = read(sys.argv[1])
results = {}
for case in sorted({k.split("/")[0] for k in tensors}):
    metrics = {"iou": BinaryJaccardIndex(), "f1": BinaryF1Score(), "precision": BinaryPrecision(),
               "recall": BinaryRecall(), "accuracy": BinaryAccuracy()}
    i = 0
    while f"{case}/batch{i}.logits" in tensors:
        logits = torch.from_numpy(tensors[f"{case}/batch{i}.logits"].copy())
        target = torch.from_numpy(tensors[f"{case}/batch{i}.target"].copy()).long()
        for m in metrics.values():
            m.update(logits, target)
        i += 1
    results[case] = {k: m.compute().item() for k, m in metrics.items()}
json.dump(results, sys.stdout)
