#!/usr/bin/env bash
# The gateway behind a real nginx running deploy/nginx/seitech-chat.conf (its
# listen and upstream rewritten to ephemeral loopback ports): /health,
# /metrics restriction, websocket and polling transports through it
# (artillery/nginx-check.js, socket.io-client 4.8), and the client address
# nginx forwards (X-Real-IP / X-Forwarded-For) being the one the gateway's
# per-address guest limit counts (the gateway trusts 127.0.0.1 as its proxy).
#
# Last line: "N passed, M failed"; non-zero exit on failure.
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
GW_PID=""
NGINX_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null || true
  [ -n "$GW_PID" ] && kill -TERM "$GW_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

JWT_SECRET="nginx-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export JWT_SECRET
cat >"$TMP/directory.json" <<'EOF'
{ "users": [
  { "id": "bench-admin", "name": "Bench Admin", "role": "admin" },
  { "id": "u1", "name": "U1", "role": "student" },
  { "id": "u2", "name": "U2", "role": "student" },
  { "id": "u3", "name": "U3", "role": "student" } ],
  "courses": [], "agents": [] }
EOF

"$GATEWAY_BIN" --host 127.0.0.1 --port 0 --data-dir "$TMP/data" --jwt-secret "$JWT_SECRET" \
  --directory-file "$TMP/directory.json" \
  --trusted-proxies 127.0.0.1/32 --rate-limit-loopback --connection-rate-per-minute 100000 \
  --guest-connections-per-ip 1 >"$TMP/gw.out" 2>"$TMP/gw.err" &
GW_PID=$!
GW_URL=""
for _ in $(seq 1 300); do
  if [[ "$(head -n1 "$TMP/gw.out" 2>/dev/null)" =~ ^seitech-chat\ listening\ on\ (http://127\.0\.0\.1:([0-9]+)) ]]; then
    GW_URL=${BASH_REMATCH[1]}
    GW_PORT=${BASH_REMATCH[2]}
    break
  fi
  kill -0 "$GW_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$GW_URL" ] || { tail -n 20 "$TMP/gw.err" >&2; fail_early "gateway did not start"; }

# a free port for nginx (the kernel picks it; released just before nginx binds)
NGINX_PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})')

# The deployed site config, pointed at this gateway and port.
sed -e "s/server 127\.0\.0\.1:3001 /server 127.0.0.1:$GW_PORT /" \
  -e "s/^\( *\)listen 80;/\1listen 127.0.0.1:$NGINX_PORT;/" \
  -e '/listen \[::\]:80;/d' \
  deploy/nginx/seitech-chat.conf >"$TMP/site.conf"
grep -q "127.0.0.1:$GW_PORT" "$TMP/site.conf" || fail_early "could not rewrite the upstream in the nginx config"
cat >"$TMP/nginx.conf" <<EOF
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
EOF
"$NGINX" -t -c "$TMP/nginx.conf" -p "$TMP" >&2 2>&1 || fail_early "nginx -t rejected deploy/nginx/seitech-chat.conf"
"$NGINX" -c "$TMP/nginx.conf" -p "$TMP" &
NGINX_PID=$!
UP=""
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/health" 2>/dev/null; then UP=1; break; fi
  kill -0 "$NGINX_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$UP" ] || { cat "$TMP/nginx-error.log" >&2 || true; fail_early "nginx did not come up on 127.0.0.1:$NGINX_PORT"; }

echo "gateway $GW_URL behind nginx 127.0.0.1:$NGINX_PORT" >&2
RC=0
CHAT_URL="http://127.0.0.1:$NGINX_PORT" timeout 60 node artillery/nginx-check.js || RC=$?
if [ "$RC" -ne 0 ]; then
  tail -n 20 "$TMP/nginx-error.log" >&2 || true
fi
exit "$RC"
