#!/usr/bin/env bash
# `npm test`: installs what is missing, starts the services the tests need, and runs every suite:
#   unit + integration (vitest; server halves against PostgreSQL + PostGIS, MinIO and Redis;
#   oracles: GDAL, PROJ's geod and, from .venv-oracles, PyTorch / torchmetrics / onnxruntime),
#   notebooks (executed headless with the tslab kernel), and the browser test (JupyterLab in
#   Chromium). Extra arguments go to the unit/integration run, e.g. `npm test -- test/kernel-lib`.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
started=$(date +%s)

bash scripts/setup.sh
bash scripts/install-system.sh
bash scripts/minio.sh >/dev/null
bash scripts/oracles.sh
env_file=$(bash scripts/services.sh start)
# shellcheck disable=SC1090
source "$env_file"
# The server halves of the suites must run here, never skip silently.
export CHANGELAB_TEST_REQUIRE_SERVICES=1
mkdir -p test-output

results=()
failed=0
run_suite() { # name, command...
  local name=$1; shift
  log "suite: $name"
  if "$@"; then results+=("$name: passed"); else results+=("$name: FAILED"); failed=1; fi
}
rm -f test-output/vitest-*.json
run_suite "type-check tests and benchmarks" npx tsc -p test/tsconfig.json
run_suite "unit + integration" npx vitest run --reporter=default --reporter=json \
  --outputFile.json=test-output/vitest-main.json "$@"
if [ $# -eq 0 ]; then
  run_suite "browser" npx vitest run --config vitest.browser.config.mts --reporter=default --reporter=json \
    --outputFile.json=test-output/vitest-browser.json
fi

log "summary ($(( $(date +%s) - started )) s)"
for r in "${results[@]}"; do printf '  %s\n' "$r" >&2; done
exit $failed
