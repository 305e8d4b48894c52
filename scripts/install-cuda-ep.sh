#!/usr/bin/env bash
# Installs onnxruntime-node's CUDA execution provider, for `train({gpu: true})` / accelerator 'gpu'.
# onnxruntime-node's own installer fetches it from NuGet, which this project does not use; the same
# provider libraries, built from the same onnxruntime release, are in PyPI's onnxruntime-gpu wheel.
# This takes libonnxruntime_providers_{cuda,shared}.so from the wheel whose version equals
# onnxruntime-node's and puts them next to onnxruntime-node's own libonnxruntime.
#   bash scripts/install-cuda-ep.sh [--with-cuda-libs]
# --with-cuda-libs also installs the CUDA 13 / cuDNN 9 runtime libraries the provider loads
# (onnxruntime-gpu's [cuda,cudnn] extras, several GB) into .venv-cuda; `npm start` puts them on
# LD_LIBRARY_PATH. Without it the machine's own CUDA 13 and cuDNN 9 libraries are used.
# Needs an NVIDIA driver for CUDA 13 to train; checked on an H100 with bench/gpu-train.ts.
source "$(dirname "$0")/lib.sh"
require_tools
[ -x "$VENV/bin/python" ] || die "run npm start (or bash scripts/setup.sh) first: this uses the pip of $VENV"
with_libs=0
for arg in "$@"; do
  case "$arg" in
    --with-cuda-libs) with_libs=1 ;;
    *) die "unknown argument $arg (usage: install-cuda-ep.sh [--with-cuda-libs])" ;;
  esac
done
cd "$ROOT"
[ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] || die "PyPI's onnxruntime-gpu has the CUDA provider for Linux x86_64 only"
version="$(node -p "require('onnxruntime-node/package.json').version")" || die "run npm install first"
bin="$(node -p "require('path').join(require('path').dirname(require.resolve('onnxruntime-node/package.json')), 'bin/napi-v6/linux/x64')")"
[ -f "$bin/libonnxruntime.so.1" ] || die "onnxruntime-node $version has no $bin/libonnxruntime.so.1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
log "fetching onnxruntime-gpu==$version from PyPI (the provider libraries only are kept)"
"$VENV/bin/python" -m pip download --quiet --no-deps --only-binary=:all: --implementation cp --python-version 3.12 \
  --platform manylinux_2_28_x86_64 --dest "$tmp" "onnxruntime-gpu==$version"
wheel="$(ls "$tmp"/onnxruntime_gpu-*.whl)"
"$VENV/bin/python" - "$wheel" "$bin" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1:3]
with zipfile.ZipFile(wheel) as z:
    for name in ("libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"):
        part = f"{dest}/.{name}.part"
        with z.open(f"onnxruntime/capi/{name}") as src, open(part, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.chmod(part, 0o755)
        os.replace(part, f"{dest}/{name}")  # never a half-written library in place
PY
log "installed the CUDA execution provider of onnxruntime $version into $bin"
if [ "$with_libs" = 1 ]; then
  [ -x "$ROOT/.venv-cuda/bin/python" ] || "$PYTHON" -m venv "$ROOT/.venv-cuda"
  log "installing the CUDA 13 and cuDNN 9 runtime libraries into .venv-cuda"
  "$ROOT/.venv-cuda/bin/python" -m pip install --quiet "onnxruntime-gpu[cuda,cudnn]==$version"
fi
if ! ls /dev/nvidia[0-9]* >/dev/null 2>&1; then
  log "note: this machine shows no NVIDIA GPU (/dev/nvidia<N>); train({gpu: true}) will say so"
fi
