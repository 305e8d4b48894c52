#!/usr/bin/env bash
# `npm run bench -- <name> [args]`: runs bench/<name>.ts against its reference tool in the same run.
# With no name, lists the benchmarks.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
if [ $# -eq 0 ]; then
  echo "benchmarks (npm run bench -- <name> [args]):"
  for f in bench/*.ts; do printf '  %-14s %s\n' "$(basename "$f" .ts)" "$(sed -n '1s#^// ##p' "$f")"; done
  exit 0
fi
name=$1; shift
[ -f "bench/$name.ts" ] || die "no benchmark bench/$name.ts"
cuda_library_path
exec npx tsx "bench/$name.ts" "$@"
