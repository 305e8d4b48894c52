#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the integration tests need (PostgreSQL 15 + PostGIS 3,
# Redis, GDAL's command-line tools as a test oracle, Chromium for the browser tests, a font for
# rendered output, curl for health checks). A quick no-op when all of them are installed.
# Runs apt-get directly as root (CI), through sudo otherwise.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(
  postgresql-15 postgresql-client-15 postgresql-15-postgis-3
  redis-server redis-tools
  gdal-bin python3-gdal proj-bin
  chromium
  fonts-dejavu-core
  curl ca-certificates
)

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

command -v dpkg-query >/dev/null && command -v apt-get >/dev/null \
  || die "this script installs Debian packages with apt-get; on other systems install by hand: ${PACKAGES[*]}
(PostgreSQL 15 with PostGIS 3, redis-server, GDAL command-line tools, Chromium, DejaVu fonts, curl)"

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  log "system packages present (${PACKAGES[*]})"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
elif command -v sudo >/dev/null && [ -t 0 ]; then
  SUDO=(sudo)   # will ask for the password
else
  die "missing system packages: ${missing[*]}
this needs root: run as root, or give this user sudo, or ask an administrator to run
  apt-get update && apt-get install -y ${missing[*]}"
fi

log "installing system packages: ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update \
  || die "apt-get update failed (network or apt sources?)"
# (Debian's postgresql-common also creates a default cluster 15/main on port 5432 and starts it
# where an init system runs; the tests don't use it: scripts/services.sh runs its own cluster.)
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" \
  || die "apt-get install failed for: ${missing[*]}"

still=()
for p in "${missing[@]}"; do installed "$p" || still+=("$p"); done
[ ${#still[@]} -eq 0 ] || die "still missing after apt-get install: ${still[*]}"
log "system packages installed"
