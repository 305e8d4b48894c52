#!/usr/bin/env bash
# `npm start`: sets everything up (idempotent) and opens JupyterLab on the quickstart notebook with
# the changelab extension and the TypeScript (tslab) kernel. Extra arguments go to `jupyter lab`,
# e.g. `npm start -- --no-browser --port 8899`.
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
cuda_library_path
log "starting JupyterLab (Ctrl+C to stop)"
exec "$VENV/bin/jupyter" lab --ServerApp.root_dir="$ROOT" "$@" notebooks/quickstart.ipynb
