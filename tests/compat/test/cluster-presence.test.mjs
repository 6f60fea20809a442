// Several gateway nodes sharing state through Redis (issue 14 item 2): a
// redis-server and a PostgreSQL database of their own (started and dropped
// here), three nodes on loopback ports with REDIS_URL and a 3 s presence TTL.
//
// With REDIS_URL the nodes also run the Socket.IO Redis adapter (issue 14
// item 1), so live events cross nodes: user:online on B for a socket on A,
// and a killed node's users announced offline once to every node's admins.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  connect, connectFails, ok, fails, until, waitFor, received, drain, userById, delay, directRoom,
} from '../lib/gateway.mjs';
import { SKIP, startRedis, freshDatabase, startNode } from '../lib/cluster.mjs';

const PRESENCE_TTL_SECS = 3;
// A killed node's users are counted out within the TTL (docs/cluster.md);
// the same again is slack for a loaded box (a reaper's round late, the
// poll's own round trips).
const OFFLINE_BOUND_MS = PRESENCE_TTL_SECS * 2 * 1000;

/** Starts `n` nodes on one Redis and one database, with the same JWT secret. */
async function startNodes(n, redis, db, { args = [], highRate = true } = {}) {
  const secret = 'cluster-' + randomBytes(12).toString('hex');
  const nodes = [];
  for (let i = 0; i < n; i++) {
    nodes.push(await startNode({
      redis,
      db,
      secret,
      id: `node-${i}`,
      highRate,
      args: ['--presence-ttl-secs', String(PRESENCE_TTL_SECS), ...args],
    }));
  }
  return nodes;
}

/** Whether `viewer` (an admin socket) is told `userId` is online, by users:search. */
async function onlineAsSeenBy(viewer, userId) {
  const { users } = await ok(viewer, 'users:search', { query: userById(userId).name });
  const found = users.find((u) => u.id === String(userId));
  assert.ok(found, `users:search finds user ${userId}`);
  return found.online;
}

const skip = SKIP;

/** `n` nodes on a fresh Redis and database for the tests of one `describe`:
 * started before them, stopped after (`suite.nodes` may be cut down to the
 * nodes still running). */
function nodesForSuite(n, opts) {
  const suite = { nodes: [] };
  let redis;
  let db;
  before(async () => {
    redis = await startRedis();
    db = freshDatabase();
    suite.nodes = await startNodes(n, redis, db, opts);
  });
  after(async () => {
    for (const node of suite.nodes) await node.stop();
    db?.drop();
    await redis?.stop();
  });
  return suite;
}

describe('presence across three nodes on Redis', { skip }, () => {
  // A long typing timeout: the stops seen here come from disconnects.
  const suite = nodesForSuite(3, { args: ['--typing-timeout-ms', '120000'] });

  it('a user is online while any node holds one of its sockets', async () => {
    const [a, b, c] = suite.nodes;
    const admin = await connect(c, '9'); // Dee Admin sees everyone
    assert.equal(await onlineAsSeenBy(admin, '1'), false);
    const tab1 = await connect(a, '1');
    assert.equal(await onlineAsSeenBy(admin, '1'), true, 'node C knows a socket on node A');
    const tab2 = await connect(b, '1');
    tab1.disconnect();
    await until(async () => (await a.health()).body.connections === 0, 'node A saw the first tab close');
    assert.equal(await onlineAsSeenBy(admin, '1'), true, 'still online: node B holds a socket');
    tab2.disconnect();
    await until(async () => !(await onlineAsSeenBy(admin, '1')), 'offline once the last tab anywhere closed');
    // /health counts users online on every node (the admin on C, here).
    for (const n of suite.nodes) {
      const { body } = await n.health();
      assert.equal(body.onlineUsers, 1, `${n.url} counts the cluster`);
      assert.equal(body.backends.redis, 'ok');
    }
    admin.disconnect();
  });

  it('typing started on one node ends when the user leaves its last node, on another', async () => {
    const [a, b] = suite.nodes;
    const typist = await connect(a, '1');
    const room = await directRoom(typist, '2');
    const reader = await connect(b, '2'); // joins the room's sockets on node B
    const secondTab = await connect(b, '1');
    await ok(typist, 'typing:start', { roomId: room });
    typist.disconnect(); // not the last tab: still typing
    await until(async () => (await a.health()).body.connections === 0, 'node A saw the tab close');
    secondTab.disconnect(); // the last one: node B ends the typing node A recorded
    const stopped = await waitFor(reader, 'typing', (x) => x.roomId === room && x.userId === '1' && x.isTyping === false);
    assert.equal(stopped.isTyping, false);
    reader.disconnect();
  });

  it('a node killed with SIGKILL has its users go offline within the bound, announced once', async () => {
    const [a, b, c] = suite.nodes;
    const adminA = await connect(a, '9');
    const adminB = await connect(b, '10');
    const ada = await connect(c, '1');
    await until(async () => onlineAsSeenBy(adminA, '1'), 'node A sees ada online');
    drain(adminA, 'user:offline');
    drain(adminB, 'user:offline');

    const killedAt = Date.now();
    await c.crash(); // SIGKILL: no goodbye, its heartbeat just stops
    suite.nodes = [a, b];
    await until(async () => !(await onlineAsSeenBy(adminA, '1')), `ada offline within ${OFFLINE_BOUND_MS} ms of the kill`, OFFLINE_BOUND_MS, 100);
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs <= OFFLINE_BOUND_MS, `offline after ${tookMs} ms`);
    assert.equal(await onlineAsSeenBy(adminB, '1'), false, 'node B agrees');

    // user:offline went out once, from the node that counted ada out.
    const heard = async () => received(adminA, 'user:offline', (u) => u === '1').length + received(adminB, 'user:offline', (u) => u === '1').length;
    await until(async () => (await heard()) >= 1, 'an admin was told ada is offline');
    // A marker: ada comes back on node A, which announces it to every node's
    // admins after the offline; any duplicate offline would have come before.
    const back = await connect(a, '1');
    await waitFor(adminA, 'user:online', (u) => u === '1');
    await waitFor(adminB, 'user:online', (u) => u === '1');
    const offA = received(adminA, 'user:offline', (u) => u === '1').length;
    const offB = received(adminB, 'user:offline', (u) => u === '1').length;
    assert.deepEqual([offA, offB], [1, 1], 'every node\'s admin told once, none twice');
    back.disconnect();
    adminA.disconnect();
    adminB.disconnect();
  });
});

describe('the connection rate per address across nodes on Redis', { skip }, () => {
  const suite = nodesForSuite(3, { args: ['--rate-limit-loopback', '--connection-rate-per-minute', '4'] });

  it('connections from one address draw on one budget, whichever node they reach', async () => {
    const [a, b, c] = suite.nodes;
    const open = [await connect(a, '1'), await connect(b, '2'), await connect(c, '3'), await connect(a, '4')];
    for (const n of suite.nodes) {
      const err = await connectFails(n, { token: n.token('6') });
      assert.match(err.message, /Too many connections/, `${n.url} counts the others' connections`);
    }
    for (const s of open) s.disconnect();
  });
});

describe('rate limits across nodes on Redis', { skip }, () => {
  const suite = nodesForSuite(2, {
    highRate: false,
    args: ['--message-burst', '4', '--message-rate-per-minute', '1',
      '--rate-limit-loopback', '--connection-rate-per-minute', '1000', '--guest-connections-per-ip', '2'],
  });

  it('a user connected to two nodes gets one message allowance, not two', async () => {
    const [a, b] = suite.nodes;
    const onA = await connect(a, '1');
    const onB = await connect(b, '1');
    let sent = 0;
    let refused = 0;
    for (let i = 0; i < 10; i++) {
      const sock = i % 2 === 0 ? onA : onB;
      const res = await sock.timeout(5000).emitWithAck('message', { recipientId: '2', content: `burst ${i}` });
      if (res.ok) sent += 1;
      else {
        assert.equal(res.error.code, 'rate_limited', JSON.stringify(res));
        refused += 1;
      }
    }
    assert.equal(sent, 4, 'the burst once, whichever node');
    assert.equal(refused, 6);
    // Another user has its own allowance.
    const other = await connect(b, '3');
    await ok(other, 'message', { recipientId: '2', content: 'mine' });
    await fails(onA, 'rate_limited', 'message', { recipientId: '2', content: 'still over' });
    onA.disconnect();
    onB.disconnect();
    other.disconnect();
  });

  it('guest connections per address are counted over both nodes', async () => {
    const [a, b] = suite.nodes;
    const g1 = await connect(a, null);
    const g2 = await connect(b, null);
    const err = await connectFails(a, {});
    assert.match(err.message, /Too many connections/, 'two already open on the other nodes count');
    g2.disconnect();
    await until(async () => (await b.health()).body.connections === 0, 'node B saw the guest leave');
    const g3 = await connect(a, null);
    g1.disconnect();
    g3.disconnect();
  });
});
