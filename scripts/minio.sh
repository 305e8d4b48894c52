#!/usr/bin/env bash
# Builds the MinIO server used by the integration tests from source with this machine's Go
# toolchain (the community edition is distributed as source only, see DESIGN.md), cached in
# $CHANGELAB_GO_BIN (default ~/.cache/changelab/go-bin). A no-op when the cached binary was built
# from the pinned version. Prints the binary's path on stdout; messages go to stderr.
#
# Pin: the tag RELEASE.2025-10-15T17-29-55Z (commit 9e49d5e7a648) is refused by the Go module
# proxy, so we pin the newest pseudo-version the proxy serves. To move the pin, change
# MINIO_VERSION (and MINIO_COMMIT, its 12-character commit from the pseudo-version).
#
# Environment: CHANGELAB_GO_BIN (where the binary goes), GO (the go command to use); the usual
# GOPROXY / GOMODCACHE / GOCACHE / GOFLAGS are honoured, so a warm module cache is reused.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_COMMIT=7aac2a2c5b7c
MIN_GO=1.24   # MinIO's go.mod

GOBIN_DIR="${CHANGELAB_GO_BIN:-$HOME/.cache/changelab/go-bin}"
BIN="$GOBIN_DIR/minio"
PIN_FILE="$GOBIN_DIR/minio.version"
PIN="$MINIO_MODULE@$MINIO_VERSION"

find_go() {
  if [ -n "${GO:-}" ]; then command -v "$GO" || true; return; fi
  command -v go || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } || true
}
GO_CMD="$(find_go)"

# built_version BIN -> "module@version" the binary was built from (empty when unknown)
built_version() {
  [ -n "$GO_CMD" ] || return 0
  "$GO_CMD" version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "'"$MINIO_MODULE"'" { print $2 "@" $3 }'
}

mkdir -p "$GOBIN_DIR"
# One build at a time (parallel test runners may all call this script).
if command -v flock >/dev/null; then
  exec 9>"$GOBIN_DIR/.minio.lock"
  flock 9
fi

if [ -x "$BIN" ] && [ -f "$PIN_FILE" ] && [ "$(cat "$PIN_FILE")" = "$PIN" ]; then
  # The pin file is written only after a successful build; confirm with the binary's own build
  # info when a Go toolchain is around to read it.
  got="$(built_version "$BIN")"
  if [ -z "$GO_CMD" ] || [ "$got" = "$PIN" ]; then
    echo "$BIN"
    exit 0
  fi
  log "cached $BIN reports '${got:-unknown}', expected $PIN: rebuilding"
fi

fail() {
  printf '[changelab] error: %s\n' "$*" >&2
  cat >&2 <<EOF
[changelab] MinIO could not be built, so the S3 integration tests cannot use a local MinIO.
[changelab] Options: install Go >= $MIN_GO (https://go.dev/dl/) and re-run scripts/minio.sh, or set
[changelab] CHANGELAB_MINIO_BIN to a MinIO server binary you already have, or run the services
[changelab] without MinIO (CHANGELAB_SERVICES="postgres redis" scripts/services.sh start).
EOF
  exit 1
}

[ -n "$GO_CMD" ] || fail "the Go toolchain ('go') was not found on PATH (MinIO is built from source)"
go_ver="$("$GO_CMD" env GOVERSION 2>/dev/null || true)"   # e.g. go1.26.8
go_ver="${go_ver#go}"
ver_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
if ! ver_ge "${go_ver:-0}" "$MIN_GO"; then
  # go >= 1.21 can fetch a newer toolchain by itself unless GOTOOLCHAIN=local forbids it.
  toolchain="$("$GO_CMD" env GOTOOLCHAIN 2>/dev/null || echo local)"
  if ! ver_ge "${go_ver:-0}" 1.21 || [ "$toolchain" = local ]; then
    fail "Go ${go_ver:-unknown} is too old: MinIO needs Go >= $MIN_GO (GOTOOLCHAIN=$toolchain)"
  fi
  log "Go $go_ver < $MIN_GO: the go command will download a newer toolchain (GOTOOLCHAIN=$toolchain)"
fi

rm -f "$PIN_FILE"
buildlog="$GOBIN_DIR/minio-build.log"
log "building MinIO $MINIO_VERSION from source with Go $go_ver into $GOBIN_DIR"
log "this takes several minutes on a cold module/build cache (log: $buildlog) ..."
start=$(date +%s)
# CGO_ENABLED=0 as in MinIO's own release builds (and no C compiler needed); GOWORK=off so a
# go.work around the current directory cannot interfere; the commit id is stamped into
# `minio --version` (the version itself stays DEVELOPMENT.GOGET, which keeps MinIO from checking
# for updates online).
if ! (cd / && GOBIN="$GOBIN_DIR" GOWORK=off CGO_ENABLED=0 "$GO_CMD" install \
        -ldflags "-X github.com/minio/minio/cmd.CommitID=$MINIO_COMMIT -X github.com/minio/minio/cmd.ShortCommitID=$MINIO_COMMIT" \
        "$PIN") >"$buildlog" 2>&1; then
  tail -n 30 "$buildlog" >&2
  fail "'go install $PIN' failed after $(( $(date +%s) - start ))s (full log: $buildlog)"
fi
[ -x "$BIN" ] || fail "go install finished but $BIN is missing (GOBIN ignored? check GOFLAGS/go env)"
got="$(built_version "$BIN")"
[ "$got" = "$PIN" ] || fail "built $BIN reports '$got', expected $PIN"
printf '%s\n' "$PIN" > "$PIN_FILE"
log "MinIO built in $(( $(date +%s) - start ))s: $("$BIN" --version 2>/dev/null | head -n1)"
echo "$BIN"
