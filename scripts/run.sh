#!/usr/bin/env bash
# Runs seitech-chat on its embedded defaults: the gateway in demo mode (SQLite
# in ./data, demo users, GET /dev/token) on :3001 and the Next.js app on :3000.
#   bash scripts/run.sh            # gateway + frontend
#   bash scripts/run.sh --gateway  # gateway only
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

GATEWAY_PORT=${PORT:-3001}
FRONTEND_PORT=${FRONTEND_PORT:-3000}

echo "== building the gateway (release)"
cargo build --release --locked -p chat-gateway

if [ "${1:-}" = "--gateway" ]; then
  exec target/release/seitech-chat --demo --port "$GATEWAY_PORT" "${@:2}"
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

target/release/seitech-chat --demo --port "$GATEWAY_PORT" \
  --frontend-url "http://localhost:$FRONTEND_PORT,http://127.0.0.1:$FRONTEND_PORT" &
pids+=($!)

echo "== building the frontend"
(
  cd frontend
  [ -d node_modules ] || npm ci --no-audit --no-fund
  NEXT_TELEMETRY_DISABLED=1 npx next build
)
(
  cd frontend
  CHAT_URL="http://localhost:$GATEWAY_PORT" NEXT_TELEMETRY_DISABLED=1 \
    exec npx next start -p "$FRONTEND_PORT"
) &
pids+=($!)

echo
echo "seitech-chat: gateway http://localhost:$GATEWAY_PORT  ·  app http://localhost:$FRONTEND_PORT (widget on /, full chat on /chat)"
wait -n "${pids[@]}"
