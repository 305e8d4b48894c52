#!/usr/bin/env bash
# Installs everything `npm start`, `npm run demo` and `npm test` need, skipping what is already done:
# npm packages, the TypeScript build, the lab extension bundle, a project-local Python virtual
# environment with JupyterLab, and the tslab kernel registered into that environment.
source "$(dirname "$0")/lib.sh"
require_tools
cd "$ROOT"

# 1. npm packages (lock file decides; `npm ci` keeps the tree exactly as committed)
h=$(fingerprint package-lock.json)
if ! up_to_date npm "$h" || [ ! -d node_modules ]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  stamp npm "$h"
fi

# 2. TypeScript build (incremental: tsc -b skips projects that did not change)
log "building TypeScript (tsc -b)"
npx tsc -b

# 3. the federated lab extension, rebuilt when its compiled code or style changed
h=$(find extension/lib style extension/package.json -type f -not -name '*.tsbuildinfo' 2>/dev/null | sort | xargs cat | sha256sum | cut -c1-16)
if ! up_to_date labextension "$h" || [ ! -f extension/labextension/package.json ]; then
  log "building the JupyterLab extension bundle"
  npm run --silent build:labextension -w extension >/dev/null
  stamp labextension "$h"
fi

# 4. Python virtual environment with JupyterLab (project-local, never the user's home)
h=$(fingerprint scripts/requirements-lab.txt)
if ! up_to_date venv "$h" || [ ! -x "$VENV/bin/jupyter-lab" ]; then
  log "creating the Python environment in .venv (JupyterLab $(grep -o 'jupyterlab==[0-9.]*' scripts/requirements-lab.txt))"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-lab.txt
  stamp venv "$h"
fi

# 5. the tslab kernel, registered into .venv (kernel.json points at this checkout's tslab)
kernel="$VENV/share/jupyter/kernels/tslab/kernel.json"
if [ ! -f "$kernel" ] || ! grep -q "$ROOT/node_modules/tslab" "$kernel"; then
  log "registering the tslab kernel in .venv"
  node node_modules/tslab/bin/tslab install --python="$VENV/bin/python" --prefix="$VENV" \
    --binary="$ROOT/node_modules/tslab/bin/tslab" >/dev/null
fi

# 6. the extension, installed into .venv as a prebuilt (federated) extension
dest="$VENV/share/jupyter/labextensions/@changelab/jupyterlab"
if ! diff -rq extension/labextension "$dest" >/dev/null 2>&1; then
  log "installing the changelab extension into .venv"
  rm -rf "$dest" && mkdir -p "$(dirname "$dest")" && cp -r extension/labextension "$dest"
fi

# 7. the changelab service, started by JupyterLab through jupyter-server-proxy at <base_url>/changelab/
#    (behind Jupyter's own authentication; the service itself binds loopback only). Trait settings
#    are read from jupyter_server_config.json, not from the .d folder (that one only enables
#    extensions), so the entry is merged into the environment's jupyter_server_config.json.
proxy_conf="$VENV/etc/jupyter/jupyter_server_config.json"
rm -f "$VENV/etc/jupyter/jupyter_server_config.d/changelab.json"
mkdir -p "$(dirname "$proxy_conf")"
ROOT="$ROOT" CONF="$proxy_conf" node -e '
  const fs = require("fs");
  const file = process.env.CONF;
  const config = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  const entry = {
    command: [process.execPath, process.env.ROOT + "/kernel-lib/lib/cli.js", "serve", "--port", "{port}"],
    absolute_url: false,
    timeout: 120,
    launcher_entry: { enabled: false },
    new_browser_tab: false
  };
  config.ServerProxy ??= {};
  config.ServerProxy.servers ??= {};
  if (JSON.stringify(config.ServerProxy.servers.changelab) !== JSON.stringify(entry)) {
    config.ServerProxy.servers.changelab = entry;
    fs.writeFileSync(file, JSON.stringify(config, null, 2) + "\n");
    console.error("[changelab] registered the changelab service with jupyter-server-proxy");
  }'
log "set-up complete"
