#!/usr/bin/env bash
# Runs seitech-chat on its embedded defaults: the gateway in demo mode (SQLite
# in ./data, demo users, GET /dev/token) and the Next.js app.
#   bash scripts/run.sh            # gateway + frontend
#   bash scripts/run.sh --gateway  # gateway only (extra arguments go to it)
#
# Settings (environment):
#   GATEWAY_PORT   the gateway's port (default 3001)
#   FRONTEND_PORT  the app's port (default 3000)
#   DEMO_HOST      the address both listen on (default 127.0.0.1: demo mode
#                  hands out tokens for anyone; set 0.0.0.0 to open it up)
#   GATEWAY_BIN    a gateway binary to use instead of building one
#   DATA_DIR       where the gateway keeps its SQLite file (default ./data)
# A generic PORT is ignored on purpose: shells and tools often set it.
#
# The first run builds the gateway (release) and the app at the same time;
# later runs reuse both when nothing changed. Ctrl-C or a SIGTERM to this
# script stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

GATEWAY_PORT=${GATEWAY_PORT:-3001}
FRONTEND_PORT=${FRONTEND_PORT:-3000}
DEMO_HOST=${DEMO_HOST:-127.0.0.1}
export DATA_DIR=${DATA_DIR:-$root/data}
logs="$root/target/run-logs"
mkdir -p "$logs"

# Every child runs in its own session and process group (setsid), so
# stopping it stops all it started (next → next-server, cargo → rustc), and
# Ctrl-C reaches this script alone, which then stops them in order.
pids=()
stopping=0
cleanup() {
  [ "$stopping" = 1 ] && return
  stopping=1
  local p
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  # Bounded: whatever has not gone after 10 s is killed.
  local i
  for i in $(seq 1 100); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 -- "-$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# start NAME COMMAND...: runs COMMAND in the background in its own process
# group (without setsid, e.g. on macOS, only the command itself is stopped).
start() {
  shift
  if command -v setsid >/dev/null; then setsid "$@" & else "$@" & fi
  pids+=($!)
}

# --- the gateway binary
gateway_bin=${GATEWAY_BIN:-}
build_gateway_pid=
if [ -z "$gateway_bin" ]; then
  gateway_bin="$root/target/release/seitech-chat"
  echo "== building the gateway (cargo build --release; log: target/run-logs/gateway-build.log)"
  start gateway-build bash -c "cargo build --release --locked -p chat-gateway >'$logs/gateway-build.log' 2>&1"
  build_gateway_pid=${pids[-1]}
fi

gateway_args=(--demo --host "$DEMO_HOST" --port "$GATEWAY_PORT" --data-dir "$DATA_DIR")

if [ "${1:-}" = "--gateway" ]; then
  if [ -n "$build_gateway_pid" ]; then
    wait "$build_gateway_pid" || { tail -n 30 "$logs/gateway-build.log"; exit 1; }
  fi
  pids=()
  trap - EXIT INT TERM
  exec "$gateway_bin" "${gateway_args[@]}" "${@:2}"
fi

# --- the app: reuse the last build unless a source changed since
build_app_pid=
app_fresh() {
  local stamp=frontend/.next/BUILD_ID
  [ -f "$stamp" ] || return 1
  [ -z "$(find frontend/src frontend/public frontend/package.json frontend/package-lock.json frontend/next.config.mjs \
    frontend/tailwind.config.ts frontend/postcss.config.mjs -newer "$stamp" -print -quit 2>/dev/null)" ]
}
if app_fresh; then
  echo "== the app is built already (frontend/.next is newer than its sources)"
else
  echo "== building the app (npm ci, next build; log: target/run-logs/app-build.log)"
  start app-build bash -c "cd frontend && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && NEXT_TELEMETRY_DISABLED=1 npx next build --no-lint" \
    >"$logs/app-build.log" 2>&1
  build_app_pid=${pids[-1]}
fi

# --- progress while building: every 20 s, what each build is doing
if [ -n "$build_gateway_pid$build_app_pid" ]; then
  echo "   (the first build takes 10-20 minutes on 2 cores; later runs start in seconds)"
  began=$SECONDS
  failed=0
  while :; do
    running=0
    for p in $build_gateway_pid $build_app_pid; do kill -0 "$p" 2>/dev/null && running=1; done
    [ "$running" = 0 ] && break
    sleep 2
    if [ $(((SECONDS - began) % 20)) -lt 2 ]; then
      line=""
      if [ -n "$build_gateway_pid" ] && kill -0 "$build_gateway_pid" 2>/dev/null; then
        line+=" gateway: $(grep -c 'Compiling' "$logs/gateway-build.log" 2>/dev/null || true) crates compiled;"
      fi
      if [ -n "$build_app_pid" ] && kill -0 "$build_app_pid" 2>/dev/null; then
        line+=" app: $(tail -n 1 "$logs/app-build.log" 2>/dev/null | cut -c1-60 || true)"
      fi
      printf '   %3ds%s\n' $((SECONDS - began)) "$line"
    fi
  done
  if [ -n "$build_gateway_pid" ] && ! wait "$build_gateway_pid"; then
    echo "!! the gateway build failed:"; tail -n 30 "$logs/gateway-build.log"; failed=1
  fi
  if [ -n "$build_app_pid" ] && ! wait "$build_app_pid"; then
    echo "!! the app build failed:"; tail -n 30 "$logs/app-build.log"; failed=1
  fi
  [ "$failed" = 0 ] || exit 1
  echo "== built in $((SECONDS - began)) s"
fi
pids=()

# --- serve
start gateway "$gateway_bin" "${gateway_args[@]}" \
  --frontend-url "http://localhost:$FRONTEND_PORT,http://127.0.0.1:$FRONTEND_PORT"
start app bash -c 'cd frontend && exec env CHAT_URL="$1" NEXT_TELEMETRY_DISABLED=1 node node_modules/next/dist/bin/next start -H "$2" -p "$3"' \
  app "http://localhost:$GATEWAY_PORT" "$DEMO_HOST" "$FRONTEND_PORT"

echo
echo "seitech-chat (demo): gateway http://localhost:$GATEWAY_PORT  ·  app http://localhost:$FRONTEND_PORT"
echo "  widget on /; full chat on /chat (pick a demo user). The widget's topics reach:"
echo "  Course inquiry → Sue Sales · Technical support → Sam Agent · Billing → Bea Billing · Other → Gus General"
echo "  Ctrl-C stops both."
set +e
wait -n "${pids[@]}"
rc=$?
exit "$rc"
