// Not a test (CI does not run it): reproduces a race inside engineioxide
// 0.17.9 (socketioxide 0.18.9) that makes a polling client's handshake fail
// now and then with "xhr poll error (HTTP 400)".
//
// engineioxide's `polling_req` checks `socket.is_upgrading()` and then takes
// the session's packet queue with `try_lock()`. A websocket upgrade of the
// same session that starts between the two (`upgrade_handshake`: start_upgrade,
// a NOOP, then `internal_rx.lock()`, held for the whole probe) makes the
// `try_lock` fail: the poll is answered 400 with an empty body
// (`MultipleHttpPolling`) and the session is closed. engine.io-client starts
// its websocket probe while it keeps polling, so a polling-first client meets
// this race at random; the platform's frontend connects websocket-first
// (frontend/src/lib/socket-client.ts) and does not. See tests/compat/README.md.
//
// Each iteration opens a session over polling, connects it, then sends a poll
// and the websocket probe at the same moment, and counts polls not answered
// 200. Bounded: N iterations (default 3000) or 240 s.
//
//   GATEWAY_BIN=target/debug/seitech-chat N=3000 node tests/compat/tools/upgrade-race.mjs
//
// Seen on 2026-12-05 with the debug build: 1 poll answered 400 in 3000.

import { startGateway } from '../lib/gateway.mjs';
import WebSocket from 'ws';
import http from 'node:http';
const gw = await startGateway();
const base = gw.url.replace('http://', '');
const [host, port] = base.split(':');
function get(path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, method: 'GET', agent: false }, (res) => {
      let body = ''; res.setEncoding('utf8'); res.on('data', (d) => body += d); res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject); req.end();
  });
}
function post(path, data) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, method: 'POST', agent: false, headers: { 'content-type': 'text/plain;charset=UTF-8' } }, (res) => {
      let body = ''; res.on('data', (d) => body += d); res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject); req.end(data);
  });
}
let bad = 0, n = 0;
const statuses = {};
const t0 = Date.now();
const N = Number(process.env.N || 2000);
for (let i = 0; i < N && Date.now() - t0 < 240000; i++) {
  const open = await get('/socket.io/?EIO=4&transport=polling');
  const sid = JSON.parse(open.body.slice(1)).sid;
  await post(`/socket.io/?EIO=4&transport=polling&sid=${sid}`, `40${JSON.stringify({ token: gw.token('1') })}`);
  await get(`/socket.io/?EIO=4&transport=polling&sid=${sid}`); // the CONNECT answer
  // now race: a poll and the websocket probe at once
  const ws = new WebSocket(`ws://${base}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
  const poll = get(`/socket.io/?EIO=4&transport=polling&sid=${sid}`);
  ws.on('open', () => ws.send('2probe'));
  ws.on('error', () => {});
  const r = await poll.catch((e) => ({ status: 'err ' + e.code }));
  statuses[r.status] = (statuses[r.status] || 0) + 1;
  if (r.status !== 200) { bad++; if (bad <= 3) console.log('iteration', i, r.status, r.body); }
  ws.terminate();
  n++;
}
console.log('iterations', n, 'non-200 polls', bad, JSON.stringify(statuses));
await gw.stop();
