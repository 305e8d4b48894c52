#!/usr/bin/env bash
# Real services for the integration tests: PostgreSQL 15 + PostGIS 3, Redis, MinIO and an MLflow
# tracking server, each on a free port on 127.0.0.1, with all their data under one state directory.
#
#   scripts/services.sh start    start what is not running (a no-op when all run); writes and
#                                prints the path of $STATE/services.env
#   scripts/services.sh stop     stop all four (data is kept; `start` reuses it)
#   scripts/services.sh status   print what runs (exit 0 when all selected services run, else 3)
#   scripts/services.sh env      write and print the path of $STATE/services.env (services must run)
#
#   . "$(scripts/services.sh start)"    # start, then load CHANGELAB_TEST_* into this shell
#
# Environment:
#   CHANGELAB_SERVICES_DIR       state directory (default $ROOT/.changelab-test/services)
#   CHANGELAB_SERVICES           which services to start (default "postgres redis minio mlflow")
#   CHANGELAB_SERVICES_TIMEOUT   seconds to wait for each service (default 60)
#   CHANGELAB_PG_BIN             PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#   CHANGELAB_MINIO_BIN          a MinIO server binary to use instead of building one (scripts/minio.sh)
#   CHANGELAB_PG_PORT / CHANGELAB_REDIS_PORT / CHANGELAB_MINIO_PORT / CHANGELAB_MLFLOW_PORT
#                                first port tried (defaults 15432 / 16379 / 19000 / 15500; the MinIO
#                                console takes the next free one)
#
# MLflow runs from the oracle environment .venv-oracles-mlflow (scripts/oracles.sh creates it from
# scripts/requirements-oracles-mlflow.txt): `mlflow server` with a SQLite backend store and a local
# artifact root under $STATE/mlflow, serving artifacts over HTTP (--serve-artifacts), one worker
# and no background job runner.
#
# Ports: a service gets the port it had last time when that is free, else the first free one from
# its base (anything listening on it, on any address, counts as taken). The env file always holds
# the ports in use; read it rather than assuming the defaults.
#
# PostgreSQL refuses to run as root: when this script runs as root, the cluster runs as the
# `postgres` system user and its directory belongs to that user. The database `changelab` is
# owned by the login role `changelab` (a SUPERUSER, so tests may CREATE EXTENSION postgis and
# create roles for row-level-security tests; superusers bypass RLS, so such tests SET ROLE to a
# non-superuser). Its random password is in $STATE/postgres.password; loopback TCP connections
# need a password (scram-sha-256), the unix socket (in a 0700 directory) is for this script.
# The cluster runs with fsync=off: it holds test data only. When root and the `postgres` user
# cannot reach $STATE (e.g. a checkout under /root, mode 0700), the cluster lives in
# /var/tmp/changelab-postgres-<hash of $STATE> instead ($STATE/postgres.link points there).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE="${CHANGELAB_SERVICES_DIR:-$ROOT/.changelab-test/services}"
SELECTED="${CHANGELAB_SERVICES:-postgres redis minio mlflow}"
TIMEOUT="${CHANGELAB_SERVICES_TIMEOUT:-60}"
PG_BIN="${CHANGELAB_PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_BASE="${CHANGELAB_PG_PORT:-15432}"
REDIS_BASE="${CHANGELAB_REDIS_PORT:-16379}"
MINIO_BASE="${CHANGELAB_MINIO_PORT:-19000}"
MLFLOW_BASE="${CHANGELAB_MLFLOW_PORT:-15500}"
HOST=127.0.0.1
IS_ROOT=0; [ "$(id -u)" -eq 0 ] && IS_ROOT=1

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
selected() { [[ " $SELECTED " == *" $1 "* ]]; }
for s in $SELECTED; do
  case "$s" in postgres|redis|minio|mlflow) ;; *) die "CHANGELAB_SERVICES: unknown service '$s' (postgres, redis, minio, mlflow)";; esac
done

mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"
ENV_FILE="$STATE/services.env"

# ---------------------------------------------------------------------------------------- helpers
secret() { # a random alphanumeric string (URL- and shell-safe)
  local s=""
  while [ ${#s} -lt "$1" ]; do s+="$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9')"; done
  printf '%s' "${s:0:$1}"
}
# keep_secret FILE LENGTH: the secret stored in FILE, created on first use (mode 600)
keep_secret() {
  if [ ! -s "$1" ]; then (umask 077; secret "$2" > "$1.tmp" && mv "$1.tmp" "$1"); fi
  cat "$1"
}

port_in_use() {
  if command -v ss >/dev/null; then
    # any listener on this port (0.0.0.0, [::] or 127.0.0.1) would collide with our bind
    [ -n "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]
  else
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
  fi
}
TAKEN=" "   # ports handed out during this run
# pick_port PREFERRED BASE: sets PORT to PREFERRED when free, else to the first free port from
# BASE on (no command substitution: TAKEN must be updated in this shell)
pick_port() {
  local p
  for p in $1 $(seq "$2" $(( $2 + 200 ))); do
    [ -n "$p" ] || continue
    [[ "$TAKEN" == *" $p "* ]] && continue
    port_in_use "$p" && continue
    TAKEN+="$p "
    PORT="$p"; return 0
  done
  die "no free port in $2..$(( $2 + 200 )) on $HOST"
}

show_log() { # show_log FILE: its tail, for error messages
  if [ -r "$1" ]; then
    printf '[changelab] --- last lines of %s ---\n' "$1" >&2
    tail -n 25 "$1" >&2
    printf '[changelab] ---\n' >&2
  else
    printf '[changelab] (no log at %s)\n' "$1" >&2
  fi
}
# wait_for DESC LOG PID CMD...: run CMD until it succeeds. After $TIMEOUT s, or as soon as PID
# (when given) is gone, show the log's tail and fail: a process that did not become ready is
# killed, so that no half-started service is left behind.
wait_for() {
  local desc="$1" logf="$2" pid="$3"; shift 3
  local deadline=$(( $(date +%s) + TIMEOUT + 1 ))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      show_log "$logf"; die "$desc exited during start-up (log: $logf)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      show_log "$logf"
      if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; sleep 1; kill -KILL "$pid" 2>/dev/null || true; fi
      die "$desc did not become ready within ${TIMEOUT}s (log: $logf)"
    fi
    sleep 0.2
  done
}
# pid_alive PIDFILE NAME: the pid in PIDFILE runs a process whose command line contains NAME
pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid="$(tr -dc 0-9 < "$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}
# stop_pid PIDFILE NAME: TERM, wait up to 30 s, then KILL
stop_pid() {
  local pid i
  pid_alive "$1" "$2" || { rm -f "$1"; return 0; }
  pid="$(tr -dc 0-9 < "$1")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then log "$2 (pid $pid) ignored SIGTERM for 30s: killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$1"
}
http_ok() ( # http_ok PORT PATH: GET returns 200
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 2 "http://$HOST:$1$2"
  else
    exec 3<>"/dev/tcp/$HOST/$1" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$2" "$HOST" "$1" >&3
    read -r -t 2 _ status _ <&3 || true
    [ "${status:-}" = 200 ]
  fi
)

# --------------------------------------------------------------------------------------- postgres
PG_PW_FILE="$STATE/postgres.password"
pg_dirs() {
  # The cluster's directory must be reachable by the user it runs as (postgres, when we are root;
  # e.g. a checkout under /root is not), and the socket path must fit in 107 bytes.
  PG_DIR="$STATE/postgres"
  local h; h="$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
  if [ "$IS_ROOT" -eq 1 ]; then
    id postgres >/dev/null 2>&1 || die "the 'postgres' system user is missing (scripts/install-system.sh installs postgresql-15)"
    mkdir -p "$PG_DIR"
    if [ "$(stat -c %U "$PG_DIR")" != postgres ]; then chown postgres:postgres "$PG_DIR"; chmod 700 "$PG_DIR"; fi
    if ! runuser -u postgres -- test -w "$PG_DIR" 2>/dev/null; then
      PG_DIR="/var/tmp/changelab-postgres-$h"
      mkdir -p "$PG_DIR"; chown postgres:postgres "$PG_DIR"; chmod 700 "$PG_DIR"
      ln -sfn "$PG_DIR" "$STATE/postgres.link"
    fi
  else
    mkdir -p "$PG_DIR"; chmod 700 "$PG_DIR"
  fi
  PG_DATA="$PG_DIR/data"
  PG_LOG="$PG_DIR/postgres.log"
  PG_SOCK="$PG_DIR/run"
  if [ $(( ${#PG_SOCK} + 18 )) -gt 100 ]; then PG_SOCK="/tmp/changelab-pg-$h"; fi
}
pg_run() { # run a PostgreSQL binary as the cluster's owner
  if [ "$IS_ROOT" -eq 1 ]; then
    (cd / && runuser -u postgres -- env LC_ALL=C.UTF-8 "$@")
  else
    (cd / && env LC_ALL=C.UTF-8 "$@")
  fi
}
pg_check_installed() {
  [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] \
    || die "PostgreSQL 15 is not installed ($PG_BIN/postgres missing): run scripts/install-system.sh"
  [ -f /usr/share/postgresql/15/extension/postgis.control ] \
    || die "PostGIS 3 for PostgreSQL 15 is not installed: run scripts/install-system.sh"
  command -v psql >/dev/null || [ -x "$PG_BIN/psql" ] || die "psql is missing: run scripts/install-system.sh"
}
pg_running_port() { # prints the port of our running cluster, fails when it does not run
  [ -f "$PG_DATA/postmaster.pid" ] || return 1
  pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1 || return 1
  sed -n 4p "$PG_DATA/postmaster.pid"
}
pg_ready() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$1" -t 2; }
pg_psql() { # SQL on stdin, as the bootstrap superuser over the unix socket
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$1" -U postgres -d postgres
}
postgres_start() {
  pg_check_installed
  pg_dirs
  local port pw
  if port="$(pg_running_port)" && pg_ready "$port"; then
    log "postgres already running on $HOST:$port"
    TAKEN+="$port "
  else
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
      log "postgres: creating a cluster in $PG_DATA"
      rm -rf "$PG_DATA"
      pg_run "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >"$STATE/initdb.log" 2>&1 \
        || { show_log "$STATE/initdb.log"; die "initdb failed (log: $STATE/initdb.log)"; }
      printf "\ninclude_if_exists = 'changelab.conf'\n" | pg_run tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi
    [ "$(cat "$PG_DATA/PG_VERSION")" = 15 ] || die "$PG_DATA holds a PostgreSQL $(cat "$PG_DATA/PG_VERSION") cluster, not 15: remove it"
    pick_port "$(cat "$STATE/postgres.port" 2>/dev/null || true)" "$PG_BASE"; port="$PORT"
    pg_run mkdir -p "$PG_SOCK"; pg_run chmod 700 "$PG_SOCK"
    pg_run tee "$PG_DATA/changelab.conf" >/dev/null <<EOF
# written by scripts/services.sh at every start
listen_addresses = '$HOST'
port = $port
unix_socket_directories = '$PG_SOCK'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
    log "postgres: starting on $HOST:$port (log: $PG_LOG)"
    if ! pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" start >/dev/null 2>"$STATE/pg_ctl.err" 9>&-; then
      cat "$STATE/pg_ctl.err" >&2; show_log "$PG_LOG"
      pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
      die "postgres did not start within ${TIMEOUT}s (log: $PG_LOG)"
    fi
    wait_for postgres "$PG_LOG" "$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null)" pg_ready "$port"
  fi
  echo "$port" > "$STATE/postgres.port"
  pw="$(keep_secret "$PG_PW_FILE" 32)"
  # idempotent: create or update the role and the database
  pg_psql "$port" <<EOF || { show_log "$PG_LOG"; die "could not create the changelab role/database"; }
SELECT 'CREATE ROLE changelab LOGIN SUPERUSER' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'changelab') \gexec
ALTER ROLE changelab WITH LOGIN SUPERUSER PASSWORD '$pw';
SELECT 'CREATE DATABASE changelab OWNER changelab' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'changelab') \gexec
EOF
}
postgres_stop() {
  pg_dirs_quiet || return 0
  if pg_running_port >/dev/null; then
    log "postgres: stopping"
    pg_run "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$TIMEOUT" stop >/dev/null \
      || { show_log "$PG_LOG"; die "postgres did not stop"; }
  fi
}
pg_dirs_quiet() { # like pg_dirs, but only when a cluster was ever created here
  [ -x "$PG_BIN/pg_ctl" ] || return 1
  [ -d "$STATE/postgres" ] || [ -L "$STATE/postgres.link" ] || return 1
  pg_dirs
  [ -f "$PG_DATA/PG_VERSION" ]
}
postgres_status() {
  local port
  if pg_dirs_quiet && port="$(pg_running_port)" && pg_ready "$port"; then
    echo "postgres  running  $HOST:$port  pid $(head -n1 "$PG_DATA/postmaster.pid")  $("$PG_BIN/postgres" --version | awk '{print $3}')  data $PG_DATA"
    return 0
  fi
  echo "postgres  stopped"; return 1
}

# ------------------------------------------------------------------------------------------ redis
REDIS_DIR="$STATE/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
redis_ping() (
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h "$HOST" -p "$1" ping 2>/dev/null)" = PONG ]
  else
    exec 3<>"/dev/tcp/$HOST/$1" || exit 1
    printf 'PING\r\n' >&3; read -r -t 2 line <&3 || true
    [ "${line%$'\r'}" = +PONG ]
  fi
)
redis_running_port() {
  local port
  pid_alive "$REDIS_PID" redis-server || return 1
  port="$(cat "$REDIS_DIR/port" 2>/dev/null)" || return 1
  redis_ping "$port" && echo "$port"
}
redis_start() {
  command -v redis-server >/dev/null || die "redis-server is not installed: run scripts/install-system.sh"
  mkdir -p "$REDIS_DIR"
  local port pid
  if port="$(redis_running_port)"; then
    log "redis already running on $HOST:$port"
    TAKEN+="$port "
    return 0
  fi
  stop_pid "$REDIS_PID" redis-server   # a hung one
  pick_port "$(cat "$REDIS_DIR/port" 2>/dev/null || true)" "$REDIS_BASE"; port="$PORT"
  echo "$port" > "$REDIS_DIR/port"
  log "redis: starting on $HOST:$port (log: $REDIS_LOG)"
  redis-server --daemonize yes --bind "$HOST" --port "$port" --protected-mode yes \
    --dir "$REDIS_DIR" --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" \
    --save '' --appendonly no >/dev/null 2>>"$REDIS_LOG" 9>&- \
    || { show_log "$REDIS_LOG"; die "redis-server did not start (log: $REDIS_LOG)"; }
  wait_for "redis (pid file)" "$REDIS_LOG" "" test -s "$REDIS_PID"
  pid="$(cat "$REDIS_PID")"
  wait_for redis "$REDIS_LOG" "$pid" redis_ping "$port"
}
redis_stop() {
  pid_alive "$REDIS_PID" redis-server || { rm -f "$REDIS_PID"; return 0; }
  log "redis: stopping"
  stop_pid "$REDIS_PID" redis-server
}
redis_status() {
  local port
  if port="$(redis_running_port)"; then
    echo "redis     running  $HOST:$port  pid $(cat "$REDIS_PID")  $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)  data $REDIS_DIR"
    return 0
  fi
  echo "redis     stopped"; return 1
}

# ------------------------------------------------------------------------------------------ minio
MINIO_DIR="$STATE/minio"
MINIO_PID="$MINIO_DIR/minio.pid"
MINIO_LOG="$MINIO_DIR/minio.log"
MINIO_EVENTS_LIST=changelab:minio-events
minio_live() { http_ok "$1" /minio/health/live; }
minio_running_port() {
  local port
  pid_alive "$MINIO_PID" minio || return 1
  port="$(cat "$MINIO_DIR/port" 2>/dev/null)" || return 1
  minio_live "$port" && echo "$port"
}
minio_bin() {
  if [ -n "${CHANGELAB_MINIO_BIN:-}" ]; then
    [ -x "$CHANGELAB_MINIO_BIN" ] || die "CHANGELAB_MINIO_BIN=$CHANGELAB_MINIO_BIN is not an executable"
    echo "$CHANGELAB_MINIO_BIN"
  else
    "$ROOT/scripts/minio.sh" || die "no MinIO server binary (see above); or start without it: CHANGELAB_SERVICES=\"postgres redis\" $0 start"
  fi
}
minio_start() {
  mkdir -p "$MINIO_DIR/data"
  local port console bin pid user pw
  if port="$(minio_running_port)"; then
    log "minio already running on $HOST:$port"
    TAKEN+="$port $(cat "$MINIO_DIR/console-port" 2>/dev/null || true) "
    return 0
  fi
  stop_pid "$MINIO_PID" minio   # a hung one
  bin="$(minio_bin)"
  user="$(keep_secret "$STATE/minio.access-key" 20)"
  pw="$(keep_secret "$STATE/minio.secret-key" 40)"
  pick_port "$(cat "$MINIO_DIR/port" 2>/dev/null || true)" "$MINIO_BASE"; port="$PORT"
  pick_port "$(cat "$MINIO_DIR/console-port" 2>/dev/null || true)" $(( port + 1 )); console="$PORT"
  echo "$port" > "$MINIO_DIR/port"; echo "$console" > "$MINIO_DIR/console-port"
  log "minio: starting on $HOST:$port, console $HOST:$console (log: $MINIO_LOG)"
  [ ! -s "$MINIO_LOG" ] || mv -f "$MINIO_LOG" "$MINIO_LOG.1"   # the log shows this run only
  # in its own session (setsid) so that it outlives the caller's process group; the subshell is
  # no group leader, so setsid does not fork and $! is MinIO's pid
  (
    export MINIO_ROOT_USER="$user" MINIO_ROOT_PASSWORD="$pw"
    # Bucket events also go to a Redis list (target arn:minio:sqs::CHANGELAB:redis), which the
    # catalog watcher can read instead of ListenBucketNotification (see README, "watch").
    # No queue directory: MinIO would then deliver from disk on a 3 s ticker; events lost while
    # Redis is down are caught by the watcher's reconcile scan instead.
    if rport="$(redis_running_port)"; then
      export MINIO_NOTIFY_REDIS_ENABLE_CHANGELAB=on MINIO_NOTIFY_REDIS_ADDRESS_CHANGELAB="$HOST:$rport" \
        MINIO_NOTIFY_REDIS_KEY_CHANGELAB="$MINIO_EVENTS_LIST" MINIO_NOTIFY_REDIS_FORMAT_CHANGELAB=access
    fi
    setsid=(); command -v setsid >/dev/null && setsid=(setsid)
    exec "${setsid[@]}" "$bin" server --address "$HOST:$port" --console-address "$HOST:$console" \
      "$MINIO_DIR/data" </dev/null >>"$MINIO_LOG" 2>&1 9>&-
  ) &
  pid=$!
  echo "$pid" > "$MINIO_PID"
  if rport="$(redis_running_port)"; then   # what the watcher needs to read those events
    printf '%s\n' "export CHANGELAB_TEST_S3_EVENTS_REDIS=redis://$HOST:$rport" \
      "export CHANGELAB_TEST_S3_EVENTS_LIST=$MINIO_EVENTS_LIST" \
      "export CHANGELAB_TEST_S3_EVENTS_ARN=arn:minio:sqs::CHANGELAB:redis" > "$MINIO_DIR/notify"
  else
    rm -f "$MINIO_DIR/notify"
  fi
  wait_for minio "$MINIO_LOG" "$pid" minio_live "$port"
}
minio_stop() {
  pid_alive "$MINIO_PID" minio || { rm -f "$MINIO_PID"; return 0; }
  log "minio: stopping"
  stop_pid "$MINIO_PID" minio
}
minio_status() {
  local port bin
  if port="$(minio_running_port)"; then
    bin="$(readlink "/proc/$(cat "$MINIO_PID")/exe" 2>/dev/null || echo minio)"
    echo "minio     running  $HOST:$port (console $HOST:$(cat "$MINIO_DIR/console-port"))  pid $(cat "$MINIO_PID")  $("$bin" --version 2>/dev/null | head -n1 | grep -o 'commit-id=[^)]*')  data $MINIO_DIR/data"
    return 0
  fi
  echo "minio     stopped"; return 1
}

# ----------------------------------------------------------------------------------------- mlflow
MLFLOW_DIR="$STATE/mlflow"
MLFLOW_PID="$MLFLOW_DIR/mlflow.pid"
MLFLOW_LOG="$MLFLOW_DIR/mlflow.log"
MLFLOW_BIN="$ROOT/.venv-oracles-mlflow/bin/mlflow"
mlflow_live() { http_ok "$1" /health; }
mlflow_running_port() {
  local port
  pid_alive "$MLFLOW_PID" "mlflow server" || return 1
  port="$(cat "$MLFLOW_DIR/port" 2>/dev/null)" || return 1
  mlflow_live "$port" && echo "$port"
}
# mlflow_kill_group: `mlflow server` runs uvicorn as a child; both are in the session started by
# setsid (process group = the server's pid), so the whole group is signalled
# (without setsid there is no such group, and the pid alone is signalled)
mlflow_kill_group() {
  local pid sig="$1"
  pid="$(tr -dc 0-9 < "$MLFLOW_PID" 2>/dev/null)" || return 0
  [ -n "$pid" ] || return 0
  kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
}
mlflow_stop_pid() {
  local pid
  pid_alive "$MLFLOW_PID" "mlflow server" || { rm -f "$MLFLOW_PID"; return 0; }
  pid="$(tr -dc 0-9 < "$MLFLOW_PID")"
  mlflow_kill_group TERM
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then log "mlflow (pid $pid) ignored SIGTERM for 30s: killing it"; mlflow_kill_group KILL; fi
  rm -f "$MLFLOW_PID"
}
mlflow_start() {
  mkdir -p "$MLFLOW_DIR/artifacts"
  local port pid
  if port="$(mlflow_running_port)"; then
    log "mlflow already running on $HOST:$port"
    TAKEN+="$port "
    return 0
  fi
  [ -x "$MLFLOW_BIN" ] || die "MLflow is not installed ($MLFLOW_BIN missing): run scripts/oracles.sh, which creates .venv-oracles-mlflow from scripts/requirements-oracles-mlflow.txt; or start without it: CHANGELAB_SERVICES=\"postgres redis minio\" $0 start"
  mlflow_stop_pid   # a hung one
  pick_port "$(cat "$MLFLOW_DIR/port" 2>/dev/null || true)" "$MLFLOW_BASE"; port="$PORT"
  echo "$port" > "$MLFLOW_DIR/port"
  log "mlflow: starting on $HOST:$port (log: $MLFLOW_LOG)"
  [ ! -s "$MLFLOW_LOG" ] || mv -f "$MLFLOW_LOG" "$MLFLOW_LOG.1"
  (
    cd "$MLFLOW_DIR"
    # no background job runner (a pool of huey consumers): tracking and the registry do not need it
    export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
    setsid=(); command -v setsid >/dev/null && setsid=(setsid)
    exec "${setsid[@]}" "$MLFLOW_BIN" server --host "$HOST" --port "$port" --workers 1 \
      --backend-store-uri "sqlite:///$MLFLOW_DIR/mlflow.db" \
      --serve-artifacts --artifacts-destination "$MLFLOW_DIR/artifacts" \
      </dev/null >>"$MLFLOW_LOG" 2>&1 9>&-
  ) &
  pid=$!
  echo "$pid" > "$MLFLOW_PID"
  # Python imports and the first schema migration of mlflow.db take a while on a busy machine.
  local deadline=$(( $(date +%s) + (TIMEOUT < 180 ? 180 : TIMEOUT) ))
  until mlflow_live "$port" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      mlflow_kill_group KILL; rm -f "$MLFLOW_PID"
      show_log "$MLFLOW_LOG"; die "mlflow exited during start-up (log: $MLFLOW_LOG)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      show_log "$MLFLOW_LOG"
      mlflow_kill_group TERM; sleep 1; mlflow_kill_group KILL; rm -f "$MLFLOW_PID"
      die "mlflow did not become ready in time (log: $MLFLOW_LOG)"
    fi
    sleep 0.5
  done
}
mlflow_stop() {
  pid_alive "$MLFLOW_PID" "mlflow server" || { rm -f "$MLFLOW_PID"; return 0; }
  log "mlflow: stopping"
  mlflow_stop_pid
}
mlflow_status() {
  local port
  if port="$(mlflow_running_port)"; then
    echo "mlflow    running  $HOST:$port  pid $(cat "$MLFLOW_PID")  $("$MLFLOW_BIN" --version 2>/dev/null | awk '{print $NF}')  data $MLFLOW_DIR"
    return 0
  fi
  echo "mlflow    stopped"; return 1
}

# -------------------------------------------------------------------------------------------- env
write_env() {
  local tmp="$ENV_FILE.tmp" port
  {
    echo "# Test services started by scripts/services.sh ($(date -Is)). Load with: . $ENV_FILE"
    if selected postgres; then
      pg_dirs_quiet && port="$(pg_running_port)" && pg_ready "$port" \
        || die "postgres is not running: run scripts/services.sh start"
      echo "export CHANGELAB_TEST_DATABASE_URL=postgres://changelab:$(cat "$PG_PW_FILE")@$HOST:$port/changelab"
    fi
    if selected minio; then
      port="$(minio_running_port)" || die "minio is not running: run scripts/services.sh start"
      echo "export CHANGELAB_TEST_S3_ENDPOINT=http://$HOST:$port"
      echo "export CHANGELAB_TEST_S3_ACCESS_KEY=$(cat "$STATE/minio.access-key")"
      echo "export CHANGELAB_TEST_S3_SECRET_KEY=$(cat "$STATE/minio.secret-key")"
      echo "export CHANGELAB_TEST_S3_REGION=us-east-1"
      if [ -s "$MINIO_DIR/notify" ]; then
        cat "$MINIO_DIR/notify"   # where MinIO also sends bucket events (a Redis list)
      fi
    fi
    if selected redis; then
      port="$(redis_running_port)" || die "redis is not running: run scripts/services.sh start"
      echo "export CHANGELAB_TEST_REDIS_URL=redis://$HOST:$port"
    fi
    if selected mlflow; then
      port="$(mlflow_running_port)" || die "mlflow is not running: run scripts/services.sh start"
      echo "export CHANGELAB_TEST_MLFLOW_URL=http://$HOST:$port"
    fi
  } > "$tmp"
  chmod 600 "$tmp"
  mv "$tmp" "$ENV_FILE"
  echo "$ENV_FILE"
}

lock() { # one start/stop at a time per state directory (fd 9; daemons are started with 9>&-)
  if command -v flock >/dev/null; then
    exec 9>"$STATE/.lock"
    flock -w $(( TIMEOUT * 3 + 600 )) 9 || die "another scripts/services.sh holds $STATE/.lock"
  fi
}

cmd="${1:-}"
case "$cmd" in
  start)
    lock
    for s in postgres redis minio mlflow; do selected "$s" && "${s}_start"; done
    write_env
    ;;
  stop)
    lock
    mlflow_stop; minio_stop; redis_stop; postgres_stop
    rm -f "$ENV_FILE"
    log "services stopped (data kept in $STATE)"
    ;;
  status)
    rc=0
    for s in postgres redis minio mlflow; do
      if "${s}_status"; then :; elif selected "$s"; then rc=3; fi
    done
    exit "$rc"
    ;;
  env)
    write_env
    ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
