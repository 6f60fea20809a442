#!/usr/bin/env bash
# Monitoring (issue 17): the Prometheus configuration and alert rules, their
# unit tests, and that every metric the Grafana dashboard and the rules query
# exists in a running gateway's /metrics.
#
#   scripts/test-monitoring.sh          # builds target/debug/seitech-chat first
#   GATEWAY_BIN=target/release/seitech-chat scripts/test-monitoring.sh
#
# 1. promtool check config deploy/prometheus/prometheus.yml
# 2. promtool check rules deploy/prometheus/rules/*.yml
# 3. promtool test rules deploy/prometheus/tests/*.test.yml (alert cases)
# 4. node --test tests/compat/monitoring/: the real gateway (Odoo mode, against
#    the Odoo double, on PostgreSQL and a test-started redis-server) after a short socket.io-client session; the dashboard's
#    and the rules' PromQL parsed with Prometheus' grammar for metric names.
# Installs Debian's `prometheus` package (for promtool) when missing.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

if ! command -v promtool >/dev/null; then
  echo "== apt-get install prometheus (promtool)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus
fi

if [[ -z "${GATEWAY_BIN:-}" ]]; then
  echo "== cargo build -p chat-gateway"
  cargo build -p chat-gateway
  export GATEWAY_BIN="$ROOT/target/debug/seitech-chat"
fi
case "$GATEWAY_BIN" in /*) ;; *) GATEWAY_BIN="$ROOT/$GATEWAY_BIN" ;; esac
export GATEWAY_BIN

stamp=tests/compat/node_modules/.package-lock.json
if [[ ! -f "$stamp" || tests/compat/package-lock.json -nt "$stamp" ]]; then
  echo "== npm ci (tests/compat)"
  (cd tests/compat && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== promtool check config"
# Relative rule_files and file_sd paths resolve from the config's directory.
(cd deploy/prometheus && promtool check config prometheus.yml)
echo "== promtool check rules"
promtool check rules deploy/prometheus/rules/*.yml
echo "== promtool test rules"
(cd deploy/prometheus/tests && promtool test rules ./*.test.yml)
echo "== dashboard and rules query metrics that exist"
# The gateway runs as a cluster node does: on PostgreSQL, in a database of
# its own (tests/compat/lib/gateway.mjs), and on Redis (started by the test).
bash scripts/ensure-postgres.sh
export COMPAT_DATABASE_URL="${COMPAT_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
node --test --test-concurrency=1 --test-timeout="${COMPAT_TEST_TIMEOUT_MS:-120000}" --test-reporter=spec \
  tests/compat/monitoring/
