#!/usr/bin/env bash
# The frontend's whole test command: typecheck, lint, unit tests (Vitest),
# production build and the end-to-end tests in Debian's Chromium against the
# real gateway binary. Run from the repository root; exits non-zero on the
# first failure. GATEWAY_BIN overrides the gateway binary
# (default target/debug/seitech-chat; built with cargo when missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CI="${CI:-true}"
export NEXT_TELEMETRY_DISABLED=1

step() { printf '\n==> %s\n' "$*"; }

if [ ! -x /usr/bin/chromium ]; then
  step "installing Debian's chromium (browser downloads do not work here)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends chromium
fi

cd frontend
if [ ! -d node_modules ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi

step "typecheck (tsc --noEmit)"
npx tsc --noEmit

step "lint (next lint)"
npm run lint

step "unit tests (vitest)"
npx vitest run

step "production build (next build)"
npx next build

gateway="${GATEWAY_BIN:-$root/target/debug/seitech-chat}"
if [ ! -x "$gateway" ] && [ -z "${GATEWAY_BIN:-}" ]; then
  step "building the gateway (cargo build -p chat-gateway)"
  (cd "$root" && cargo build -p chat-gateway)
fi
export GATEWAY_BIN="$gateway"

step "end-to-end tests (playwright-core + /usr/bin/chromium, gateway $GATEWAY_BIN)"
node --test --test-concurrency=1 --test-reporter=spec e2e/
