#!/usr/bin/env bash
# The frontend's whole test command: typecheck, lint, unit tests (Vitest),
# production build and the end-to-end tests in Debian's Chromium against the
# real gateway binary. Run from anywhere; every step runs (the end-to-end
# tests only when the build and the gateway binary are there), a summary of
# the steps ends the output, and the exit status is non-zero when any step
# failed. GATEWAY_BIN overrides the gateway binary (default
# target/debug/seitech-chat; built with cargo when missing and GATEWAY_BIN is
# unset).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CI="${CI:-true}"
export NEXT_TELEMETRY_DISABLED=1

declare -a names=() results=() times=()
failed=0

step() { printf '\n==> %s\n' "$*"; }

record() { # name result seconds
  names+=("$1")
  results+=("$2")
  times+=("$3")
  [ "$2" = FAIL ] && failed=1
  return 0
}

# run NAME COMMAND...: runs one step, records PASS or FAIL; returns its status.
run() {
  local name="$1"
  shift
  step "$name"
  local start=$SECONDS
  "$@"
  local rc=$?
  if [ "$rc" -eq 0 ]; then record "$name" PASS $((SECONDS - start)); else record "$name" FAIL $((SECONDS - start)); fi
  return "$rc"
}

skip() { # name reason
  step "$1: skipped ($2)"
  record "$1" "SKIP ($2)" 0
}

summary() {
  local rc=$?
  trap - EXIT
  printf '\n==> summary\n'
  local i
  for i in "${!names[@]}"; do
    printf '  %-48s %-28s %4ss\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
  done
  if [ "$failed" -ne 0 ] || [ "$rc" -ne 0 ]; then
    printf 'frontend tests: FAILED\n'
    exit 1
  fi
  printf 'frontend tests: all passed\n'
  exit 0
}
trap summary EXIT
trap 'printf "\ninterrupted\n"; failed=1; exit 130' INT TERM

if [ ! -x /usr/bin/chromium ]; then
  run "install Debian's chromium" bash -c 'export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y --no-install-recommends chromium' || true
fi

cd frontend
if [ ! -d node_modules ]; then
  run "npm ci" npm ci --no-audit --no-fund || exit 1
fi

run "typecheck (tsc --noEmit)" npx tsc --noEmit
run "lint (next lint)" npm run lint
run "unit tests (vitest)" npx vitest run
built=0
run "production build (next build)" npx next build && built=1

gateway="${GATEWAY_BIN:-$root/target/debug/seitech-chat}"
if [ "$built" -eq 1 ] && [ ! -x "$gateway" ] && [ -z "${GATEWAY_BIN:-}" ]; then
  run "build the gateway (cargo build -p chat-gateway)" bash -c "cd '$root' && cargo build -p chat-gateway"
fi
export GATEWAY_BIN="$gateway"

e2e="end-to-end tests (playwright-core + chromium)"
if [ "$built" -ne 1 ]; then
  skip "$e2e" "no production build"
elif [ ! -x "$GATEWAY_BIN" ]; then
  skip "$e2e" "no gateway at $GATEWAY_BIN"
  failed=1
elif [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  skip "$e2e" "no chromium"
  failed=1
else
  printf '\n(gateway %s)\n' "$GATEWAY_BIN"
  run "$e2e" node --test --test-concurrency=1 --test-reporter=spec e2e/
fi
