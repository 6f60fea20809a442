'use strict';
// Checks three gateway nodes (one Redis, one PostgreSQL database) behind nginx
// (scripts/test-nginx.sh, phase 2):
// - each node answers /health with its own node id;
// - twelve clients, each from its own loopback address, spread over the nodes
//   (nginx hashes the client address), half of them polling-only;
// - a polling-only session makes many requests and every one reaches the node
//   that holds the session (a request that reached another node would be
//   refused with "Session ID unknown" and the client would disconnect);
// - a message sent by one client reaches every other client, whichever node
//   each is on, and every client's `sync` then holds it.
//
// Env: CHAT_URL (nginx), NODE_URLS (the nodes, comma-separated), JWT_SECRET.
// Prints PASS/FAIL lines and `N passed, M failed` last; exit status 1 on any
// failure.

const http = require('http');
const { io } = require('socket.io-client');
const jwt = require('jsonwebtoken');

const URL = process.env.CHAT_URL;
const NODES = (process.env.NODE_URLS || '').split(',').filter(Boolean);
const SECRET = process.env.JWT_SECRET;
const T = 10000;
const CLIENTS = 12;
const results = [];
const check = (name, ok, detail) => {
  results.push(!!ok);
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`);
};
const mint = (sub, role) => jwt.sign({ sub, name: sub, role, exp: Math.floor(Date.now() / 1000) + 600 }, SECRET, { algorithm: 'HS256' });

function getJson(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: T }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        try { resolve(JSON.parse(body)); } catch (_e) { resolve(null); }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(null));
  });
}

/** The node id a /health body names (null when it names none). */
const nodeIdOf = (health) => (health && (health.nodeId || health.node)) || null;

function connect(sub, role, localAddress, transports) {
  // The agent carries the source address for polling requests, localAddress
  // for the websocket.
  const agent = new http.Agent({ localAddress, keepAlive: true });
  return new Promise((resolve, reject) => {
    const s = io(URL, {
      auth: { token: mint(sub, role) }, transports, upgrade: false, reconnection: false,
      timeout: T, agent, localAddress,
    });
    s.once('session', () => resolve(s));
    s.once('connect_error', (e) => reject(new Error(`${sub} from ${localAddress}: ${e.message}`)));
  });
}

async function main() {
  const healths = await Promise.all(NODES.map((n) => getJson(`${n}/health`)));
  const ids = healths.map(nodeIdOf);
  check('every node answers /health with its own node id',
    NODES.length === 3 && ids.every(Boolean) && new Set(ids).size === ids.length, JSON.stringify(ids));
  const viaNginx = await getJson(`${URL}/health`);
  check('/health through nginx', viaNginx && viaNginx.status === 'ok', JSON.stringify(viaNginx).slice(0, 120));

  const sockets = [];
  let disconnects = 0;
  try {
    const admin = await connect('bench-admin', 'admin', '127.0.0.50', ['websocket']);
    sockets.push(admin);
    for (let i = 1; i <= CLIENTS; i++) {
      const transports = i % 2 ? ['polling'] : ['websocket'];
      const s = await connect(`c${i}`, 'student', `127.0.0.${100 + i}`, transports);
      s.on('disconnect', () => { disconnects += 1; });
      sockets.push(s);
    }
    const clients = sockets.slice(1);
    check('twelve clients connect through nginx (half polling-only)', clients.length === CLIENTS,
      clients.map((s) => s.io.engine.transport.name).join(','));

    const counts = (await Promise.all(NODES.map((n) => getJson(`${n}/health`)))).map((h) => (h ? h.connections : -1));
    const used = counts.filter((c) => c > 0).length;
    check('the clients are spread over the nodes', counts.reduce((a, b) => a + b, 0) === CLIENTS + 1 && used >= 2,
      `connections per node ${JSON.stringify(counts)}`);

    const created = await admin.timeout(T).emitWithAck('conversation:create', {
      type: 'group', participantIds: clients.map((_s, i) => `c${i + 1}`), name: 'cluster check',
    });
    const roomId = created && created.ok && created.conversation.id;
    check('a group of all twelve is created', !!roomId, JSON.stringify(created).slice(0, 120));

    // Ten round trips per polling-only client: each is a POST and a GET that
    // must reach the node holding the session.
    let roundTrips = 0;
    await Promise.all(clients.filter((s) => s.io.engine.transport.name === 'polling').map(async (s) => {
      for (let k = 0; k < 10; k++) {
        const res = await s.timeout(T).emitWithAck('conversations:list', {});
        if (res && res.ok) roundTrips += 1;
      }
    }));
    check('polling-only sessions stay on their node (60 round trips, no disconnect)',
      roundTrips === 60 && disconnects === 0, `${roundTrips} round trips, ${disconnects} disconnects`);

    // One message from a polling client on one node reaches all the others.
    const receipts = clients.slice(1).map((s) => new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), T);
      const on = (m) => {
        if (m && m.roomId === roomId) { clearTimeout(timer); s.off('message', on); resolve(m); }
      };
      s.on('message', on);
    }));
    const ack = await clients[0].timeout(T).emitWithAck('message', { roomId, content: 'to every node' });
    const got = await Promise.all(receipts);
    const missing = got.map((m, i) => (m && m.content === 'to every node' ? null : `c${i + 2}`)).filter(Boolean);
    check('a message reaches the members on every node', ack && ack.ok && missing.length === 0,
      missing.length ? `missing at ${missing.join(',')}` : `${got.length} deliveries`);

    const synced = await Promise.all(clients.map((s) => s.timeout(T).emitWithAck('messages:history', { roomId, limit: 10 })));
    const inHistory = synced.filter((h) => h && h.ok && h.messages.some((m) => ack && ack.message && m.id === ack.message.id)).length;
    check('every client\'s history (each node reading the shared store) has it', inHistory === CLIENTS, `${inHistory}/${CLIENTS}`);
  } catch (e) {
    check('socket.io through nginx to three nodes', false, e.message);
  }
  sockets.forEach((s) => s.disconnect());
  const passed = results.filter(Boolean).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  process.exit(passed === results.length ? 0 : 1);
}

main().catch((e) => { console.log(`FAIL ${e.message}`); console.log('0 passed, 1 failed'); process.exit(1); });
