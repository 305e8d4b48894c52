#!/usr/bin/env bash
# `npm run demo`: executes notebooks/quickstart.ipynb headless with the tslab kernel and prints a
# summary. Exits non-zero if any cell fails. Other notebooks: `npm run demo -- notebooks/x.ipynb`.
source "$(dirname "$0")/lib.sh"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
out="$ROOT/test-output/notebooks"
mkdir -p "$out"
status=0
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=(notebooks/quickstart.ipynb)
for nb in "${notebooks[@]}"; do
  name=$(basename "$nb")
  log "executing $nb with the tslab kernel"
  # The kernel starts in the notebook's folder, as JupyterLab starts it.
  if JUPYTER_PATH="$VENV/share/jupyter" "$VENV/bin/jupyter" nbconvert --to notebook --execute \
      --ExecutePreprocessor.kernel_name=tslab --ExecutePreprocessor.timeout=900 \
      --output-dir "$out" --output "$name" "$nb" >"$out/$name.log" 2>&1; then
    node "$ROOT/scripts/notebook-summary.js" "$out/$name" || status=1
  else
    status=1
    log "FAILED: $nb"
    tail -n 40 "$out/$name.log" >&2
  fi
done
exit $status
