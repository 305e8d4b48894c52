# Shared helpers for the set-up scripts: paths, logging and "skip when nothing changed" stamps.
# Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMPS="$ROOT/.changelab/stamps"
mkdir -p "$STAMPS"
# onnxruntime-node's installer would fetch CUDA files from outside the npm registry; skip it unless
# the user asked for it (scripts/install-cuda-ep.sh installs the CUDA provider from PyPI instead).
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

# The CUDA 13 / cuDNN 9 libraries of scripts/install-cuda-ep.sh --with-cuda-libs, for processes
# started from here (JupyterLab and its kernels): onnxruntime's CUDA provider finds them at load.
cuda_library_path() {
  local libs=""
  if [ -d "$ROOT/.venv-cuda" ]; then
    libs="$(find "$ROOT/.venv-cuda" -path '*/site-packages/nvidia/*' -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd: -)"
  fi
  if [ -n "$libs" ]; then export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
}

log() { printf '\033[1m[changelab]\033[0m %s\n' "$*" >&2; }
die() { printf '[changelab] error: %s\n' "$*" >&2; exit 1; }

# fingerprint FILE... -> one hash of the files' contents (missing files count as empty)
fingerprint() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# up_to_date NAME HASH: true when the stamp NAME records HASH
up_to_date() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp() { printf '%s' "$2" > "$STAMPS/$1"; }

require_tools() {
  command -v node >/dev/null || die "Node.js 20.19+ is required"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || die "Node.js 20.19+ is required (found $(node --version))"
  PYTHON="${CHANGELAB_PYTHON:-$(command -v python3 || true)}"
  [ -n "$PYTHON" ] || die "Python 3.11+ is required"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "Python 3.11+ is required (found $("$PYTHON" --version))"
}
