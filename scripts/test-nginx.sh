#!/usr/bin/env bash
# The gateway behind a real nginx running deploy/nginx/seitech-chat.conf (its
# listen and upstream rewritten to ephemeral loopback ports), in two phases:
#
# 1. One gateway (artillery/nginx-check.js, socket.io-client 4.8): /health,
#    /metrics restriction, websocket and polling transports through nginx,
#    and the client address nginx forwards (X-Real-IP / X-Forwarded-For)
#    being the one the gateway's per-address guest limit counts (the gateway
#    trusts 127.0.0.1 as its proxy).
# 2. Three gateway nodes on one Redis (a redis-server started here on an
#    ephemeral port) and one fresh PostgreSQL database
#    (artillery/nginx-cluster-check.js): clients from many loopback
#    addresses spread over the nodes, polling-only sessions stay on their
#    node (sticky upstream), and clients on different nodes get each other's
#    messages.
#
# Last line: "N passed, M failed" (both phases); non-zero exit on failure.
# Env: GATEWAY_BIN (default target/debug/seitech-chat).
set -euo pipefail

cd "$(dirname "$0")/.."
export CI=true
GATEWAY_BIN=${GATEWAY_BIN:-target/debug/seitech-chat}

fail_early() {
  echo "FAIL $1"
  echo "0 passed, 1 failed"
  exit 1
}

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  (apt-get install -y nginx-light || { apt-get update && apt-get install -y nginx-light; }) >&2 ||
    fail_early "nginx-light could not be installed"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -d artillery/node_modules/socket.io-client ]; then
  (cd artillery && npm ci --ignore-scripts --no-audit --no-fund) >&2 || fail_early "npm ci in artillery/"
fi
[ -x "$GATEWAY_BIN" ] || fail_early "gateway binary $GATEWAY_BIN missing (cargo build -p chat-gateway)"

TMP=$(mktemp -d)
PIDS=()
NGINX_PID=""
DB_NAME=""
PG_ADMIN="postgres://postgres@127.0.0.1:5432/postgres"
cleanup() {
  [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$DB_NAME" ] && psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

JWT_SECRET="nginx-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export JWT_SECRET
# bench-admin, u1…u3 for phase 1; c1…c12 for the cluster phase.
node -e '
const users = [{ id: "bench-admin", name: "Bench Admin", role: "admin" }];
for (const id of ["u1", "u2", "u3"]) users.push({ id, name: id.toUpperCase(), role: "student" });
for (let i = 1; i <= 12; i++) users.push({ id: `c${i}`, name: `Cluster ${i}`, role: "student" });
process.stdout.write(JSON.stringify({ users, courses: [], agents: [] }));
' >"$TMP/directory.json"

# A free loopback port (the kernel picks it; released just before use).
free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})'
}

# start_gateway NAME ARGS…: starts a gateway on an ephemeral port, sets PORT.
start_gateway() {
  local name=$1
  shift
  "$GATEWAY_BIN" --host 127.0.0.1 --port 0 --data-dir "$TMP/$name" --jwt-secret "$JWT_SECRET" \
    --directory-file "$TMP/directory.json" \
    --trusted-proxies 127.0.0.1/32 --rate-limit-loopback --connection-rate-per-minute 100000 \
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  PORT=""
  for _ in $(seq 1 300); do
    if [[ "$(head -n1 "$TMP/$name.out" 2>/dev/null)" =~ ^seitech-chat\ listening\ on\ http://127\.0\.0\.1:([0-9]+) ]]; then
      PORT=${BASH_REMATCH[1]}
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$TMP/$name.err" >&2
  fail_early "gateway $name did not start"
}

# start_nginx PORT…: the deployed site config with its upstream's servers
# replaced by the given gateway ports and its listen moved to a free port;
# sets NGINX_PORT.
start_nginx() {
  if [ -n "$NGINX_PID" ]; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  NGINX_PORT=$(free_port)
  local servers=""
  for p in "$@"; do servers+="    server 127.0.0.1:$p max_fails=3 fail_timeout=10s;\n"; done
  sed -e '/^ *server 127\.0\.0\.1:300[0-9] /d' \
    -e "s/^\( *hash \$remote_addr consistent;\)/\1\n$servers/" \
    -e "s/^\( *\)listen 80;/\1listen 127.0.0.1:$NGINX_PORT;/" \
    -e '/listen \[::\]:80;/d' \
    deploy/nginx/seitech-chat.conf >"$TMP/site.conf"
  for p in "$@"; do
    grep -q "server 127.0.0.1:$p " "$TMP/site.conf" || fail_early "could not rewrite the upstream in the nginx config"
  done
  cat >"$TMP/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/client_body;
  proxy_temp_path $TMP/proxy;
  fastcgi_temp_path $TMP/fastcgi;
  uwsgi_temp_path $TMP/uwsgi;
  scgi_temp_path $TMP/scgi;
  include $TMP/site.conf;
}
CONF
  "$NGINX" -t -c "$TMP/nginx.conf" -p "$TMP" >&2 2>&1 || fail_early "nginx -t rejected deploy/nginx/seitech-chat.conf"
  "$NGINX" -c "$TMP/nginx.conf" -p "$TMP" &
  NGINX_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/health" 2>/dev/null && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$TMP/nginx-error.log" >&2 || true
  fail_early "nginx did not come up on 127.0.0.1:$NGINX_PORT"
}

PASSED=0
FAILED=0
# run_check SCRIPT: runs a check script and adds up its last line's counts.
run_check() {
  local out rc=0 last
  out=$(timeout 120 node "$@" 2>&1) || rc=$?
  echo "$out" | sed '$d'
  last=$(echo "$out" | tail -n 1)
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    PASSED=$((PASSED + BASH_REMATCH[1]))
    FAILED=$((FAILED + BASH_REMATCH[2]))
  else
    echo "FAIL $1 ended without a summary (exit $rc): $last"
    FAILED=$((FAILED + 1))
  fi
  if [ "$rc" -ne 0 ]; then tail -n 20 "$TMP/nginx-error.log" >&2 || true; fi
}

# Phase 1: one gateway.
start_gateway single --guest-connections-per-ip 1
start_nginx "$PORT"
echo "one gateway (port $PORT) behind nginx 127.0.0.1:$NGINX_PORT" >&2
CHAT_URL="http://127.0.0.1:$NGINX_PORT" run_check artillery/nginx-check.js

# Phase 2: three nodes on one Redis and one PostgreSQL database.
REDIS_SERVER=$(command -v redis-server || true)
if [ -z "$REDIS_SERVER" ] || ! bash scripts/ensure-postgres.sh >&2; then
  echo "FAIL cluster phase: needs redis-server and PostgreSQL on 127.0.0.1:5432"
  FAILED=$((FAILED + 1))
else
  REDIS_PORT=$(free_port)
  "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$TMP" >"$TMP/redis.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  DB_NAME="nginx_cluster_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  psql "$PG_ADMIN" -qc "CREATE DATABASE $DB_NAME" >/dev/null
  NODE_PORTS=()
  NODE_URLS=""
  for n in 1 2 3; do
    start_gateway "node$n" --node-id "node$n" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
      --database-url "postgres://postgres@127.0.0.1:5432/$DB_NAME"
    NODE_PORTS+=("$PORT")
    NODE_URLS+="${NODE_URLS:+,}http://127.0.0.1:$PORT"
  done
  start_nginx "${NODE_PORTS[@]}"
  echo "three nodes (${NODE_PORTS[*]}) behind nginx 127.0.0.1:$NGINX_PORT" >&2
  CHAT_URL="http://127.0.0.1:$NGINX_PORT" NODE_URLS="$NODE_URLS" run_check artillery/nginx-cluster-check.js
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
