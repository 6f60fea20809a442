'use strict';
// Listening client for the Artillery smoke run (scripts/test-artillery.sh).
//
// 1. As an admin, creates a group conversation with the Artillery user and
//    the listener user as participants (protocol §3, conversation:create).
// 2. Connects as the listener (a participant, so it is in the room without
//    `join`), joins the room anyway, counts every `message` delivered there.
// 3. Writes one JSON line to stdout: { roomId, token } -- the room and the
//    JWT Artillery uses (CHAT_ROOM / CHAT_TOKEN).
// 4. Reads commands on stdin. `check {"emitted":N,"completed":N,"failed":N,"errors":{}}`
//    (from Artillery's report): waits (event-driven, bounded
//    by --deadline-ms) until N messages were delivered, then reads the
//    room's stored messages back with messages:history and prints one line per
//    check and `N passed, M failed` last; exits 0 only if all passed.
//
// Env: CHAT_URL, JWT_SECRET. Args: --deadline-ms N (default 15000),
// --transport websocket|polling (default: socket.io-client's default).

const { io } = require('socket.io-client');
const jwt = require('jsonwebtoken');
const readline = require('readline');

const URL = process.env.CHAT_URL;
const SECRET = process.env.JWT_SECRET;
if (!URL || !SECRET) {
  console.error('listener: CHAT_URL and JWT_SECRET are required');
  process.exit(2);
}
const args = process.argv.slice(2);
function arg(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
}
const DEADLINE_MS = Number(arg('--deadline-ms', '15000'));
const ADMIN = { sub: arg('--admin', 'bench-admin'), name: 'Bench Admin', role: 'admin' };
const LOADER = { sub: arg('--loader', 'artillery-1'), name: 'Artillery', role: 'student' };
const LISTENER = { sub: arg('--listener', 'listener-1'), name: 'Listener', role: 'student' };

const mint = (c) => jwt.sign({ ...c, exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET, { algorithm: 'HS256' });
const OP_TIMEOUT = 10000;

function connect(claims) {
  return new Promise((resolve, reject) => {
    const s = io(URL, { auth: { token: mint(claims) }, reconnection: false, timeout: OP_TIMEOUT });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (e) => reject(new Error(`connect as ${claims.sub}: ${e.message}`)));
  });
}

function call(socket, event, payload) {
  return socket.timeout(OP_TIMEOUT).emitWithAck(event, payload).then((r) => {
    if (!r || r.ok !== true) throw new Error(`${event}: ${JSON.stringify(r)}`);
    return r;
  });
}

async function main() {
  const admin = await connect(ADMIN);
  // The listener connects before the room exists, so the gateway must put
  // its socket in the room when it becomes a participant (§3 Rooms).
  const listener = await connect(LISTENER);
  const created = await call(admin, 'conversation:create', {
    type: 'group', participantIds: [LOADER.sub, LISTENER.sub], name: 'artillery smoke',
  });
  const roomId = created.conversation.id;
  admin.disconnect();

  const delivered = new Map(); // message id -> count
  const contents = new Set();
  let deliveredTotal = 0;
  let waiter = null;
  listener.on('message', (m) => {
    if (!m || m.roomId !== roomId) return;
    deliveredTotal += 1;
    delivered.set(m.id, (delivered.get(m.id) || 0) + 1);
    contents.add(m.content);
    if (waiter) waiter();
  });
  await call(listener, 'join:room', { roomId });

  process.stdout.write(JSON.stringify({ roomId, token: mint(LOADER) }) + '\n');

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const m = /^check (\{.*\})$/.exec(line.trim());
    if (!m) return;
    const stats = JSON.parse(m[1]);
    const expected = Number(stats.emitted);
    const t0 = Date.now();
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, DEADLINE_MS);
      waiter = () => { if (deliveredTotal >= expected) { clearTimeout(timer); resolve(); } };
      waiter();
    });
    const waitedMs = Date.now() - t0;

    // Read back everything stored in the room, oldest first, page by page.
    const stored = [];
    let after;
    let pages = 0;
    let historyError = null;
    try {
      const first = await call(listener, 'messages:history', { roomId, limit: 100 });
      // newest first without cursors; walk backwards with `before`
      let page = first.messages;
      let hasMore = first.hasMore;
      stored.push(...page);
      while (hasMore && pages < 10000) {
        pages += 1;
        const before = page[page.length - 1].id;
        const r = await call(listener, 'messages:history', { roomId, before, limit: 100 });
        page = r.messages;
        hasMore = r.hasMore && page.length > 0;
        stored.push(...page);
      }
      after = stored.length;
    } catch (e) {
      historyError = e.message;
    }
    const storedIds = new Set(stored.map((x) => x.id));
    const results = [];
    const check = (name, ok, detail) => { results.push(ok); console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`); };
    check('artillery emitted messages', expected > 0, `${expected} message emits by ${stats.completed} virtual users`);
    check('no artillery virtual user failed', stats.failed === 0, `${stats.failed} failed; errors ${JSON.stringify(stats.errors || {})}`);
    check('history readable', historyError === null, historyError || `${after} stored messages`);
    check('every emitted message stored', stored.length === expected,
      `stored ${stored.length} of ${expected}` + (stored.length < expected ? ` (${expected - stored.length} lost, ${(100 * stored.length / expected).toFixed(1)}% kept)` : ''));
    check('stored ids unique', storedIds.size === stored.length, `${storedIds.size} distinct of ${stored.length}`);
    check('every emitted message delivered to the listener', deliveredTotal === expected,
      `delivered ${deliveredTotal} of ${expected} (waited ${waitedMs} ms)`);
    const dupes = [...delivered.values()].filter((n) => n > 1).length;
    check('no message delivered twice', dupes === 0, `${dupes} duplicated`);
    const notStored = [...delivered.keys()].filter((id) => !storedIds.has(id)).length;
    check('every delivered message is stored', notStored === 0, `${notStored} delivered but not stored`);
    const notDelivered = stored.filter((x) => !delivered.has(x.id)).length;
    check('every stored message was delivered', notDelivered === 0, `${notDelivered} stored but not delivered`);
    const passed = results.filter(Boolean).length;
    const failed = results.length - passed;
    console.log(`${passed} passed, ${failed} failed`);
    listener.disconnect();
    process.exit(failed === 0 ? 0 : 1);
  });
  rl.on('close', () => { listener.disconnect(); process.exit(3); });
}

main().catch((e) => {
  console.error('listener:', e.message);
  process.exit(2);
});
