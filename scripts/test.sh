#!/usr/bin/env bash
# The project's one test command: every test of every component.
#
#   bash scripts/test.sh
#
# It installs what it needs when missing (Debian packages, npm ci, pip), builds
# the gateway once, then runs, in order:
#   1. Rust: cargo fmt --check, cargo clippy -D warnings, cargo test (workspace)
#   2. Node compatibility suite (official socket.io-client 4.x) + python-socketio smoke,
#      again on PostgreSQL, and the cluster suite (three nodes, Redis, PostgreSQL)
#   3. Odoo addon checks (ruff, pylint-odoo, manifest/XML/access checks, pytest)
#   4. Frontend: tsc, eslint, vitest, next build, Playwright e2e in Debian's Chromium
#   5. Artillery smoke run with a listening client that checks every message
#   6. nginx (scripts/test-nginx.sh): one gateway, then three nodes on Redis +
#      PostgreSQL behind the deployed config; deploy files (compose, nginx) checked
#   7. Monitoring: promtool check/test of the alert rules, and every metric the
#      Grafana dashboard and the rules query exists in a running gateway
# Every suite runs even when an earlier one failed; the last line sums them up
# and the exit status is non-zero if any failed.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CI="${CI:-true}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n======== %s ========\n' "$*"; }

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v nginx >/dev/null || need_apt+=(nginx-light)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

passed=0
failed=0
failures=()
run_suite() {
  local name=$1
  shift
  step "$name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "-- $name: ok ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "-- $name: FAILED ($((SECONDS - start)) s)"
  fi
}

rust_checks() {
  cargo fmt --all -- --check &&
    cargo clippy --workspace --all-targets --locked -- -D warnings &&
    cargo test --workspace --locked
}

# The store's contract suite runs against a real PostgreSQL too.
step "PostgreSQL for the store tests"
bash scripts/ensure-postgres.sh || echo "PostgreSQL is not available: its store tests will fail"
run_suite "rust (fmt, clippy, unit and store tests)" rust_checks

step "build the gateway"
if cargo build --locked -p chat-gateway; then
  export GATEWAY_BIN="$ROOT/target/debug/seitech-chat"
else
  echo "gateway build failed"
  echo "suites: $passed passed, $((failed + 1)) failed"
  exit 1
fi

run_suite "compatibility (socket.io-client, python-socketio)" bash scripts/test-compat.sh
run_suite "compatibility core on PostgreSQL" env COMPAT_STORE=postgres bash scripts/test-compat.sh
run_suite "cluster (three nodes on Redis and PostgreSQL)" env COMPAT_STORE=cluster bash scripts/test-compat.sh
run_suite "odoo addon" bash scripts/test-addon.sh
run_suite "frontend (unit, build, browser e2e)" bash scripts/test-frontend.sh
run_suite "artillery smoke" bash scripts/test-artillery.sh
if [ -f scripts/test-nginx.sh ]; then
  run_suite "nginx in front of the gateway" bash scripts/test-nginx.sh
fi
run_suite "deploy files (compose, nginx configs)" bash scripts/test-deploy.sh
run_suite "monitoring (promtool rules, dashboard metrics exist)" bash scripts/test-monitoring.sh

step "summary"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
