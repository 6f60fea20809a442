#!/usr/bin/env bash
# Artillery smoke test: a 15-second run of artillery/chat.yml (the seed's
# scenario) against a freshly started gateway, while a listening client in the
# same room counts deliveries. Then checks that EVERY message Artillery emitted
# was stored (messages:history) and delivered to the listener.
#
# Last line: "N passed, M failed"; exit status non-zero on any failure.
#
# Env:
#   GATEWAY_BIN     gateway binary (default target/debug/seitech-chat)
#   TARGET_SERVER   gateway (default) | baseline (the Node server in
#                   crates/chat-bench/baseline, to compare)
#   ARTILLERY_CONFIG  scenario file (default artillery/chat.yml)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CI=true
export ARTILLERY_DISABLE_TELEMETRY=true
export DO_NOT_TRACK=1

GATEWAY_BIN=${GATEWAY_BIN:-target/debug/seitech-chat}
TARGET_SERVER=${TARGET_SERVER:-gateway}
ARTILLERY_CONFIG=${ARTILLERY_CONFIG:-artillery/chat.yml}
# Messages per virtual user in chat.yml (loop of 2 + the last one).
MESSAGES_PER_VU=${MESSAGES_PER_VU:-3}

fail_early() {
  echo "FAIL $1"
  echo "0 passed, 1 failed"
  exit 1
}

if [ ! -x artillery/node_modules/.bin/artillery ] || [ ! -d artillery/node_modules/socket.io-client ]; then
  (cd artillery && npm ci --ignore-scripts --no-audit --no-fund) >&2 || fail_early "npm ci in artillery/"
fi

TMP=$(mktemp -d)
SERVER_PID=""
LISTENER_PID=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [ -n "$LISTENER_PID" ]; then kill "$LISTENER_PID" 2>/dev/null || true; fi
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

JWT_SECRET="artillery-smoke-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export JWT_SECRET
cat >"$TMP/directory.json" <<'EOF'
{
  "users": [
    { "id": "bench-admin", "name": "Bench Admin", "role": "admin" },
    { "id": "artillery-1", "name": "Artillery", "role": "student" },
    { "id": "listener-1", "name": "Listener", "role": "student" }
  ],
  "courses": [],
  "agents": []
}
EOF

# --- start the server under test ------------------------------------------
case "$TARGET_SERVER" in
  gateway)
    [ -x "$GATEWAY_BIN" ] || fail_early "gateway binary $GATEWAY_BIN missing (cargo build -p chat-gateway)"
    "$GATEWAY_BIN" --host 127.0.0.1 --port 0 --data-dir "$TMP/data" \
      --jwt-secret "$JWT_SECRET" --directory-file "$TMP/directory.json" \
      --message-rate-per-minute 100000000 --message-burst 1000000 \
      >"$TMP/server.out" 2>"$TMP/server.err" &
    SERVER_PID=$!
    LINE_RE='^seitech-chat listening on (http://127\.0\.0\.1:[0-9]+)'
    ;;
  baseline)
    [ -d crates/chat-bench/baseline/node_modules ] ||
      (cd crates/chat-bench/baseline && npm ci --no-audit --no-fund) >&2
    PORT=0 HOST=127.0.0.1 DIRECTORY_FILE="$TMP/directory.json" \
      node crates/chat-bench/baseline/server.js >"$TMP/server.out" 2>"$TMP/server.err" &
    SERVER_PID=$!
    LINE_RE='^baseline listening on (http://127\.0\.0\.1:[0-9]+)'
    ;;
  *) fail_early "unknown TARGET_SERVER $TARGET_SERVER" ;;
esac

CHAT_URL=""
for _ in $(seq 1 300); do # at most 30 s
  if [[ "$(head -n1 "$TMP/server.out" 2>/dev/null)" =~ $LINE_RE ]]; then
    CHAT_URL=${BASH_REMATCH[1]}
    break
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$CHAT_URL" ]; then
  tail -n 20 "$TMP/server.err" >&2 || true
  fail_early "server did not print its listening line within 30 s"
fi
export CHAT_URL
echo "server ($TARGET_SERVER) at $CHAT_URL" >&2

# --- the listening client ---------------------------------------------------
mkfifo "$TMP/listener.in"
node artillery/listener.js --deadline-ms 15000 <"$TMP/listener.in" >"$TMP/listener.out" 2>"$TMP/listener.err" &
LISTENER_PID=$!
exec 3>"$TMP/listener.in" # keep the fifo open for writing
SETUP=""
for _ in $(seq 1 300); do # at most 30 s
  SETUP=$(head -n1 "$TMP/listener.out" 2>/dev/null || true)
  [ -n "$SETUP" ] && break
  kill -0 "$LISTENER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$SETUP" ]; then
  cat "$TMP/listener.err" >&2 || true
  fail_early "listening client could not set up the room"
fi
CHAT_ROOM=$(node -e 'console.log(JSON.parse(process.argv[1]).roomId)' "$SETUP")
CHAT_TOKEN=$(node -e 'console.log(JSON.parse(process.argv[1]).token)' "$SETUP")
export CHAT_ROOM CHAT_TOKEN
echo "room $CHAT_ROOM" >&2

# --- the Artillery run -------------------------------------------------------
ART_RC=0
timeout 120 artillery/node_modules/.bin/artillery run --output "$TMP/report.json" "$ARTILLERY_CONFIG" \
  >"$TMP/artillery.out" 2>&1 || ART_RC=$?
tail -n 40 "$TMP/artillery.out" >&2
if [ ! -s "$TMP/report.json" ]; then
  fail_early "artillery produced no report (exit $ART_RC)"
fi

STATS=$(node -e '
  const r = require(process.argv[1]);
  const c = (r.aggregate && r.aggregate.counters) || {};
  const completed = c["vusers.completed"] || 0;
  const errors = {};
  for (const [k, v] of Object.entries(c)) if (k.startsWith("errors.")) errors[k.slice(7)] = v;
  // every virtual user emits one join:room and then its messages
  const emitted = (c["socketio.emit"] || 0) - completed;
  console.log(JSON.stringify({ emitted, completed, failed: c["vusers.failed"] || 0, errors,
    expectedFromVus: completed * Number(process.argv[2]) }));
' "$TMP/report.json" "$MESSAGES_PER_VU")
echo "artillery: $STATS" >&2

echo "check $STATS" >&3
LRC=0
for _ in $(seq 1 600); do # at most 60 s for the listener to finish its checks
  kill -0 "$LISTENER_PID" 2>/dev/null || break
  sleep 0.1
done
wait "$LISTENER_PID" || LRC=$?
LISTENER_PID=""
grep -v '^{' "$TMP/listener.out" | grep -v ' passed, ' || true
cat "$TMP/listener.err" >&2 || true

PASSED=$(grep -cE '^PASS ' "$TMP/listener.out" || true)
FAILED=$(grep -cE '^FAIL ' "$TMP/listener.out" || true)
if [ "$ART_RC" -eq 0 ]; then
  echo "PASS artillery exited 0"
  PASSED=$((PASSED + 1))
else
  echo "FAIL artillery exited $ART_RC"
  FAILED=$((FAILED + 1))
fi
if [ "$LRC" -ne 0 ] && [ "$FAILED" -eq 0 ]; then
  echo "FAIL listening client exited $LRC"
  FAILED=$((FAILED + 1))
fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "FAIL server is no longer running"
  FAILED=$((FAILED + 1))
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
