#!/usr/bin/env bash
# Cross-component compatibility suite: drives the real gateway binary with the
# official socket.io-client 4.x (Node, node:test) and python-socketio 5.x (pytest).
#
#   scripts/test-compat.sh                # builds target/debug/seitech-chat first
#   GATEWAY_BIN=target/release/seitech-chat scripts/test-compat.sh   # no build
#
# Env: GATEWAY_BIN (binary to test; when set nothing is built),
#      COMPAT_NODE_CONCURRENCY (test files run at once, default 1),
#      COMPAT_ONLY=node|python (run one half), GATEWAY_LOG=1 (gateway stderr to the console),
#      COMPAT_STORE=postgres (only the core files, gateways on PostgreSQL),
#      COMPAT_STORE=cluster (only the cluster files: several gateway nodes on a
#      test-started redis-server and one PostgreSQL database, issue 14).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

if [[ -z "${GATEWAY_BIN:-}" ]]; then
  echo "== cargo build -p chat-gateway"
  cargo build -p chat-gateway
  export GATEWAY_BIN="$ROOT/target/debug/seitech-chat"
fi
case "$GATEWAY_BIN" in /*) ;; *) GATEWAY_BIN="$ROOT/$GATEWAY_BIN" ;; esac
export GATEWAY_BIN
if [[ ! -x "$GATEWAY_BIN" ]]; then
  echo "gateway binary not found or not executable: $GATEWAY_BIN" >&2
  exit 1
fi

# COMPAT_STORE=postgres: the core (messaging, history, sync, support) again,
# and two nodes on one database (messages; attachments through a shared
# media directory), each gateway on the PostgreSQL store in a database of its own
# (tests/compat/lib/gateway.mjs, COMPAT_DATABASE_URL).
if [[ "${COMPAT_STORE:-sqlite}" == postgres ]]; then
  bash scripts/ensure-postgres.sh
  export COMPAT_DATABASE_URL="${COMPAT_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  stamp=tests/compat/node_modules/.package-lock.json
  if [[ ! -f "$stamp" || tests/compat/package-lock.json -nt "$stamp" ]]; then
    (cd tests/compat && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "== node --test (core files, gateway on PostgreSQL)"
  exec node --test --test-concurrency="${COMPAT_NODE_CONCURRENCY:-1}" --test-timeout="${COMPAT_TEST_TIMEOUT_MS:-120000}" \
    --test-reporter=spec \
    tests/compat/test/messaging.test.mjs tests/compat/test/conversations.test.mjs tests/compat/test/support.test.mjs \
    tests/compat/test/postgres-nodes.test.mjs tests/compat/test/attachments-nodes.test.mjs
fi

# COMPAT_STORE=cluster: tests/compat/test/cluster-*.test.mjs, each test with
# its own redis-server (ephemeral port) and PostgreSQL database
# (tests/compat/lib/cluster.mjs). Elsewhere these files skip themselves.
if [[ "${COMPAT_STORE:-sqlite}" == cluster ]]; then
  bash scripts/ensure-postgres.sh
  if ! command -v redis-server >/dev/null; then
    echo "redis-server is not installed (apt-get install redis-server)" >&2
    exit 1
  fi
  export COMPAT_DATABASE_URL="${COMPAT_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  stamp=tests/compat/node_modules/.package-lock.json
  if [[ ! -f "$stamp" || tests/compat/package-lock.json -nt "$stamp" ]]; then
    (cd tests/compat && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "== node --test (cluster: gateway nodes on Redis and PostgreSQL)"
  exec node --test --test-concurrency=1 --test-timeout="${COMPAT_TEST_TIMEOUT_MS:-120000}" \
    --test-reporter=spec tests/compat/test/cluster-*.test.mjs
fi

node_status=0
python_status=0

if [[ "${COMPAT_ONLY:-node}" == node || -z "${COMPAT_ONLY:-}" ]]; then
  # npm ci when node_modules is missing or older than the lock file
  stamp=tests/compat/node_modules/.package-lock.json
  if [[ ! -f "$stamp" || tests/compat/package-lock.json -nt "$stamp" ]]; then
    echo "== npm ci (tests/compat)"
    (cd tests/compat && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "== node --test tests/compat/test/"
  node --test --test-concurrency="${COMPAT_NODE_CONCURRENCY:-1}" --test-timeout="${COMPAT_TEST_TIMEOUT_MS:-120000}" \
    --test-reporter=spec \
    tests/compat/test/ || node_status=$?
fi

if [[ "${COMPAT_ONLY:-python}" == python || -z "${COMPAT_ONLY:-}" ]]; then
  if ! python3 -c 'import socketio, websocket, pytest, requests, aiosmtpd' >/dev/null 2>&1 \
     || ! python3 - <<'PY' >/dev/null 2>&1
import importlib.metadata as md, re, sys
for line in open("tests/python/requirements.txt"):
    line = line.split("#")[0].strip()
    m = re.match(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line)
    if m and md.version(m.group(1)) != m.group(3):
        sys.exit(1)
PY
  then
    echo "== pip install -r tests/python/requirements.txt"
    python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  fi
  echo "== python3 -m pytest tests/python"
  python3 -m pytest -q -p no:cacheprovider tests/python || python_status=$?
fi

if [[ $node_status -ne 0 || $python_status -ne 0 ]]; then
  echo "compat suite FAILED (node exit $node_status, python exit $python_status)" >&2
  exit 1
fi
echo "compat suite passed"
