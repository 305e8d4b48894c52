#!/usr/bin/env bash
# Creates .venv-oracles: PyTorch, torchmetrics and Python onnxruntime, used only by the training
# oracle tests (test/kernel-lib/train/pytorch-oracle.test.ts) and `npm run bench -- train-step`.
# Skips the install when scripts/requirements-oracles.txt did not change since the last one.
source "$(dirname "$0")/lib.sh"
require_tools
cd "$ROOT"
ORACLES="$ROOT/.venv-oracles"
h=$(fingerprint scripts/requirements-oracles.txt)
if ! up_to_date oracles "$h" || [ ! -x "$ORACLES/bin/python" ]; then
  log "creating the oracle environment in .venv-oracles ($(grep -o 'torch==[0-9.]*' scripts/requirements-oracles.txt); this downloads a few GB once)"
  [ -x "$ORACLES/bin/python" ] || "$PYTHON" -m venv "$ORACLES"
  # pip's cache is kept on purpose: the torch wheel and its CUDA dependencies are large.
  "$ORACLES/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-oracles.txt
  "$ORACLES/bin/python" -c 'import torch, torchmetrics, onnxruntime, numpy' \
    || die "the oracle environment did not import (see the pip output above)"
  stamp oracles "$h"
fi
