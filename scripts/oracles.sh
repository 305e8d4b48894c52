#!/usr/bin/env bash
# Creates the oracle environments, one Python virtual environment per requirements file, used only
# by tests and benchmarks that compare with a reference tool:
#   scripts/requirements-oracles.txt       -> .venv-oracles        (PyTorch, torchmetrics, onnxruntime)
#   scripts/requirements-oracles-NAME.txt  -> .venv-oracles-NAME   (one per other reference tool)
# Separate environments keep the reference tools' dependency pins from fighting each other.
# A line `# import: a b c` in a requirements file names the modules checked after the install.
# An environment is re-installed only when its requirements file changed since the last install.
source "$(dirname "$0")/lib.sh"
require_tools
cd "$ROOT"
for req in scripts/requirements-oracles.txt scripts/requirements-oracles-*.txt; do
  [ -f "$req" ] || continue
  name=$(basename "$req" .txt); name=${name#requirements-}      # oracles, oracles-ge, ...
  venv="$ROOT/.venv-$name"
  h=$(fingerprint "$req")
  if ! up_to_date "$name" "$h" || [ ! -x "$venv/bin/python" ]; then
    log "creating the oracle environment .venv-$name from $req (downloads once; pip's cache is kept)"
    [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
    # pip's cache is kept on purpose: the torch wheel and its CUDA dependencies are large.
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    modules=$(sed -n 's/^# import: *//p' "$req" | tr ' ' ',')
    if [ -n "$modules" ]; then
      "$venv/bin/python" -c "import $modules" || die ".venv-$name did not import $modules (see the pip output above)"
    fi
    stamp "$name" "$h"
  fi
done
