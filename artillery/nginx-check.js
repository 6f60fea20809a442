'use strict';
// Checks a gateway through nginx (scripts/test-nginx.sh): /health, /metrics
// allowed from 127.0.0.1 and denied from 127.0.0.2, unknown paths 404, and a
// message exchanged between a websocket-only client and a polling-only client,
// plus a default client that upgrades from polling to websocket.
//
// Env: CHAT_URL (nginx), JWT_SECRET. Prints PASS/FAIL lines and
// `N passed, M failed` last; exit status 1 on any failure.

const http = require('http');
const { io } = require('socket.io-client');
const jwt = require('jsonwebtoken');

const URL = process.env.CHAT_URL;
const SECRET = process.env.JWT_SECRET;
const T = 10000;
const results = [];
const check = (name, ok, detail) => {
  results.push(!!ok);
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`);
};
const mint = (sub, role) => jwt.sign({ sub, name: sub, role, exp: Math.floor(Date.now() / 1000) + 600 }, SECRET, { algorithm: 'HS256' });

function get(path, localAddress) {
  return new Promise((resolve) => {
    const req = http.get(URL + path, { localAddress, timeout: T }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
  });
}

function connect(sub, role, opts) {
  return new Promise((resolve, reject) => {
    const s = io(URL, { auth: { token: mint(sub, role) }, reconnection: false, timeout: T, ...opts });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (e) => reject(new Error(`${sub}: ${e.message}`)));
  });
}

function nextMessage(socket, roomId) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message within 10 s')), T);
    const on = (m) => {
      if (m && m.roomId === roomId) { clearTimeout(timer); socket.off('message', on); resolve(m); }
    };
    socket.on('message', on);
  });
}

async function main() {
  const health = await get('/health');
  let healthOk = false;
  try { healthOk = health.status === 200 && JSON.parse(health.body).status === 'ok'; } catch (_e) { /* reported below */ }
  check('GET /health through nginx', healthOk, `${health.status} ${health.body.slice(0, 80)}`);
  const m1 = await get('/metrics', '127.0.0.1');
  check('GET /metrics from 127.0.0.1 allowed', m1.status === 200 && m1.body.includes('chat_active_connections'), `${m1.status}`);
  const m2 = await get('/metrics', '127.0.0.2');
  check('GET /metrics from 127.0.0.2 denied', m2.status === 403, `${m2.status}`);
  const other = await get('/not-a-route');
  check('unknown path is 404 at nginx', other.status === 404, `${other.status}`);

  const sockets = [];
  try {
    const admin = await connect('bench-admin', 'admin', { transports: ['websocket'] });
    sockets.push(admin);
    const ws = await connect('u1', 'student', { transports: ['websocket'] });
    sockets.push(ws);
    check('websocket-only client connects', ws.io.engine.transport.name === 'websocket', ws.io.engine.transport.name);
    const poll = await connect('u2', 'student', { transports: ['polling'], upgrade: false });
    sockets.push(poll);
    check('polling-only client connects', poll.io.engine.transport.name === 'polling', poll.io.engine.transport.name);

    const created = await admin.timeout(T).emitWithAck('conversation:create', { type: 'group', participantIds: ['u1', 'u2'], name: 'nginx check' });
    const roomId = created && created.ok && created.conversation.id;
    check('conversation created', !!roomId, JSON.stringify(created).slice(0, 120));

    const gotByPoll = nextMessage(poll, roomId);
    const ack1 = await ws.timeout(T).emitWithAck('message', { roomId, content: 'via websocket' });
    const m = await gotByPoll;
    check('websocket → polling delivery', ack1.ok && m.content === 'via websocket', m.content);

    const gotByWs = nextMessage(ws, roomId);
    const ack2 = await poll.timeout(T).emitWithAck('message', { roomId, content: 'via polling' });
    const m2b = await gotByWs;
    check('polling → websocket delivery', ack2.ok && m2b.content === 'via polling', m2b.content);

    const up = await connect('u3', 'student', {});
    sockets.push(up);
    const upgraded = up.io.engine.transport.name === 'websocket' || await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), T);
      up.io.engine.once('upgrade', () => { clearTimeout(timer); resolve(true); });
    });
    check('default client upgrades polling → websocket', upgraded, up.io.engine.transport.name);
  } catch (e) {
    check('socket.io through nginx', false, e.message);
  }
  sockets.forEach((s) => s.disconnect());

  // The client address (issue 11): the gateway allows one guest connection
  // per address (--guest-connections-per-ip 1) and trusts nginx's
  // X-Forwarded-For. Guests from 127.0.0.2 and 127.0.0.3 are two addresses;
  // without the forwarded address both would be nginx's 127.0.0.1. A client
  // writing its own X-Forwarded-For does not become someone else.
  const guest = (localAddress, extraHeaders = {}) => new Promise((resolve) => {
    const s = io(URL, { auth: {}, transports: ['websocket'], localAddress, extraHeaders, reconnection: false, timeout: T });
    s.once('session', () => resolve({ s, ok: true }));
    s.once('connect_error', (e) => { s.close(); resolve({ s, ok: false, why: e.message }); });
  });
  const g2 = await guest('127.0.0.2');
  check('a guest from 127.0.0.2 connects through nginx', g2.ok, g2.why);
  const g3 = await guest('127.0.0.3', { 'X-Forwarded-For': '127.0.0.2' });
  check('a guest from 127.0.0.3 (claiming 127.0.0.2) counts as 127.0.0.3', g3.ok, g3.why);
  const again = await guest('127.0.0.2');
  check('a second guest from 127.0.0.2 is over its address\'s limit', !again.ok && /Too many/.test(again.why || ''), again.why);
  [g2, g3, again].forEach((g) => g.s.close());
  const passed = results.filter(Boolean).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  process.exit(passed === results.length ? 0 : 1);
}

main().catch((e) => { console.log(`FAIL ${e.message}`); console.log('0 passed, 1 failed'); process.exit(1); });
