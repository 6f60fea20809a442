// The support desk across three gateway nodes (issue 14, docs/cluster-desk.md):
// one PostgreSQL database (COMPAT_DATABASE_URL; skipped on SQLite) and one
// redis-server that this test starts on an ephemeral loopback port. 60
// visitors spread over the three nodes against agents on different nodes
// with a total capacity of 12: exactly 12 assigned, none over its limit, the
// rest queued with consistent, gap-free positions; ending chats pulls the
// queue in order.
//
// The desk is asserted through acks and the desk's views (support:desk) on
// every node. Events a node emits to sockets on another node
// (support:assigned, support:queued, conversation:new) need the cluster's
// Socket.IO Redis adapter: the last test checks them, and runs only on a
// gateway that is a cluster node (its /health names its node).
//
// Agents in tests/fixtures/directory.json: 5 Sam (support), 41 Gina
// (support), 8 Gus (general, serves every department's overflow); each sets
// its limit to 4 here.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { startGateway, connect, ok, ack, until, waitFor } from '../lib/gateway.mjs';

const PG = process.env.COMPAT_DATABASE_URL;

/** A free loopback port, as the kernel hands one out. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (v) => { s.destroy(); resolve(v); };
    s.setTimeout(1000, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { got += d; if (got.includes('\r\n')) done(got.startsWith('+PONG')); });
  });
}

/** redis-server on an ephemeral loopback port, nothing persisted. */
async function startRedis() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    let exited = false;
    proc.once('exit', () => { exited = true; });
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline && !exited) {
      if (await ping(port)) {
        return {
          url: `redis://127.0.0.1:${port}`,
          async stop() {
            if (exited) return;
            const gone = new Promise((r) => proc.once('exit', r));
            proc.kill('SIGKILL');
            await gone;
          },
        };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!exited) proc.kill('SIGKILL');
  }
  throw new Error('redis-server did not start');
}

/** Connects again after a server disconnect, as the frontend does. */
function reconnecting(socket) {
  socket.on('disconnect', (reason) => {
    if (reason === 'io server disconnect') socket.connect();
  });
  return socket;
}

const AGENTS = [
  { id: '5', node: 0, max: 4 }, // Sam, support
  { id: '41', node: 1, max: 4 }, // Gina, support
  { id: '8', node: 2, max: 4 }, // Gus, general
];
const CAPACITY = AGENTS.reduce((n, a) => n + a.max, 0);

describe('the support desk across three nodes', { skip: !PG && 'needs COMPAT_DATABASE_URL (PostgreSQL)' }, () => {
  let redis;
  const nodes = [];
  const agents = {};
  const admins = [];
  before(async () => {
    redis = await startRedis();
    // Short bounds, so that the SIGKILL test ends soon: a node is taken for
    // dead 3 s after its last beat (one a second), then the grace period (2 s).
    const shared = {
      REDIS_URL: redis.url,
      REDIS_DESK_PREFIX: `{desk-${randomBytes(4).toString('hex')}}`,
      NODE_ID: 'node0',
      DESK_NODE_TTL_SECS: '3',
      AGENT_GRACE_SECS: '2',
    };
    nodes.push(await startGateway({ env: { ...shared } }));
    for (const i of [1, 2]) {
      const gw = await startGateway({ env: { ...shared, NODE_ID: `node${i}` }, databaseUrl: nodes[0].databaseUrl });
      gw.keep(); // the first node drops the shared database when it stops
      nodes.push(gw);
    }
    for (const a of AGENTS) {
      agents[a.id] = reconnecting(await connect(nodes[a.node], a.id));
      await ok(agents[a.id], 'agent:status', { available: true, maxConcurrentChats: a.max });
    }
    for (const gw of nodes) admins.push(reconnecting(await connect(gw, '9')));
  });
  after(async () => {
    for (const gw of [...nodes].reverse()) await gw?.stop();
    await redis?.stop();
  });

  /** The supervisor view on one node: agent id → { max, chats }, and the
   * support department's queue (the last test queues sales chats too). */
  async function desk(i) {
    return summary(await ok(admins[i], 'support:desk', {}));
  }

  function summary(view) {
    const loads = {};
    for (const a of view.agents) loads[a.id] = { max: a.maxChats, chats: a.chats.map((c) => c.roomId).sort() };
    const queue = view.queue.filter((q) => q.department === 'support').map((q) => ({ roomId: q.roomId, position: q.position }));
    return { loads, queue };
  }

  let placed;
  it('60 visitors over three nodes: exactly the capacity assigned, none over its limit, the rest queued at 1..48', async () => {
    const visitors = [];
    for (let i = 0; i < 60; i++) visitors.push(await connect(nodes[i % 3], null));
    placed = await Promise.all(visitors.map((v, i) => ok(v, 'support:start', {
      name: `Cluster Visitor ${i}`, email: `cluster${i}@example.org`, queryType: 'technical_support', message: `help ${i}`,
    })));
    const assigned = placed.filter((p) => p.status === 'assigned');
    assert.equal(assigned.length, CAPACITY, 'exactly the capacity is assigned');
    const perAgent = {};
    for (const p of assigned) perAgent[p.agent.id] = (perAgent[p.agent.id] || 0) + 1;
    for (const a of AGENTS) assert.equal(perAgent[a.id], a.max, `agent ${a.id} is at its limit, not over`);
    const positions = placed.filter((p) => p.status === 'queued').map((p) => p.position).sort((x, y) => x - y);
    assert.deepEqual(positions, Array.from({ length: 60 - CAPACITY }, (_, i) => i + 1), 'positions 1..48, once each');
    assert.equal(new Set(placed.map((p) => p.conversation.id)).size, 60, 'one chat per visitor');

    // Every node shows the same desk, and it matches what the visitors were told.
    const views = [await desk(0), await desk(1), await desk(2)];
    assert.deepEqual(views[1], views[0]);
    assert.deepEqual(views[2], views[0]);
    for (const a of AGENTS) assert.equal(views[0].loads[a.id].chats.length, a.max);
    const told = new Map(placed.filter((p) => p.status === 'queued').map((p) => [p.conversation.id, p.position]));
    for (const q of views[0].queue) assert.equal(q.position, told.get(q.roomId), 'the desk agrees with the ack');
  });

  it('ending chats, each on its agent\'s node, pulls the queue in order and renumbers it without a gap', async () => {
    let view = await desk(0);
    for (let round = 0; round < 6; round++) {
      const agent = AGENTS[round % 3];
      const ending = view.loads[agent.id].chats[0];
      const head = view.queue[0].roomId;
      await ok(agents[agent.id], 'support:end', { roomId: ending });
      // The freed slot took the head of the queue (decided on the agent's node).
      const next = await desk((round + 1) % 3);
      assert.ok(next.loads[agent.id].chats.includes(head), `round ${round}: ${agent.id} took the head`);
      assert.ok(!next.loads[agent.id].chats.includes(ending));
      assert.equal(next.loads[agent.id].chats.length, agent.max, 'back at its limit, not over');
      assert.deepEqual(next.queue.map((q) => q.roomId), view.queue.slice(1).map((q) => q.roomId), 'the rest keep their order');
      assert.deepEqual(next.queue.map((q) => q.position), next.queue.map((_, i) => i + 1), 'gap-free');
      view = next;
    }
    // New visitors, one on each node, queue after them, numbered on.
    for (let i = 0; i < 3; i++) {
      const visitor = await connect(nodes[i], null);
      const mine = await ok(visitor, 'support:start', { name: `Late ${i}`, email: `late${i}@example.org`, queryType: 'technical_support' });
      assert.equal(mine.status, 'queued');
      assert.equal(mine.position, view.queue.length + 1 + i);
    }
  });

  it('the desk\'s events reach agents and visitors on the other nodes', async (t) => {
    const { body } = await nodes[0].health();
    if (body.node === undefined) {
      t.skip('not a cluster node: no Socket.IO adapter between the nodes');
      return;
    }
    // Sales: Sally on node 0, limit 1; visitors on nodes 1 and 2.
    const sally = await connect(nodes[0], '20');
    await ok(sally, 'agent:status', { available: true, maxConcurrentChats: 1 });
    const sales = (i) => ({ name: `Sales Visitor ${i}`, email: `sales${i}@example.org`, queryType: 'course_inquiry' });
    const v1 = await connect(nodes[1], null);
    const first = await ok(v1, 'support:start', sales(1));
    assert.equal(first.status, 'assigned');
    assert.equal(first.agent.id, '20');
    // Decided on node 1; Sally hears of her new chat on node 0.
    const mine = await waitFor(sally, 'conversation:new', (c) => c.id === first.conversation.id);
    assert.equal(mine.type, 'support');
    const v2 = await connect(nodes[2], null);
    const second = await ok(v2, 'support:start', sales(2));
    const v3 = await connect(nodes[1], null);
    const third = await ok(v3, 'support:start', sales(3));
    assert.deepEqual([second.status, second.position, third.status, third.position], ['queued', 1, 'queued', 2]);
    // Sally ends the first chat on node 0: the desk gives her the head of
    // the queue; its visitor on node 2 and the next one on node 1 hear it.
    await ok(sally, 'support:end', { roomId: first.conversation.id });
    const assigned = await waitFor(v2, 'support:assigned', (a) => a.roomId === second.conversation.id);
    assert.equal(assigned.agent.id, '20');
    // (Its first support:queued said 2, when it was queued.)
    await waitFor(v3, 'support:queued', (q) => q.roomId === third.conversation.id && q.position === 1);
  });

  it('ends at the same time on all three nodes take as many chats from the head, nobody over its limit', async () => {
    const before = await desk(0);
    const ends = AGENTS.flatMap((a) => before.loads[a.id].chats.slice(0, 2).map((roomId) => ok(agents[a.id], 'support:end', { roomId })));
    await Promise.all(ends);
    const head = new Set(before.queue.slice(0, ends.length).map((q) => q.roomId));
    await until(async () => {
      const now = await desk(1);
      return AGENTS.every((a) => now.loads[a.id].chats.length === a.max);
    }, 'every agent back at its limit');
    const after = await desk(2);
    const taken = AGENTS.flatMap((a) => after.loads[a.id].chats).filter((c) => head.has(c));
    assert.equal(taken.length, ends.length, 'the chats at the head were taken');
    for (const a of AGENTS) assert.ok(after.loads[a.id].chats.length <= a.max);
    assert.deepEqual(after.queue.map((q) => q.position), after.queue.map((_, i) => i + 1));
  });

  it('a node killed with SIGKILL: its agent goes offline and its chats go back to the head of the queue, oldest first', async () => {
    const gus = AGENTS.find((a) => a.node === 2);
    const before = await desk(0);
    const his = before.loads[gus.id].chats;
    assert.equal(his.length, gus.max);
    const waiting = before.queue.map((q) => q.roomId);
    await nodes[2].crash();
    // Bounded: 3 s until node 2 is taken for dead, an upkeep, the 2 s grace
    // period, an upkeep. (With the cluster's adapter the surviving nodes
    // also disconnect their sockets once, to resync: the consoles reconnect
    // at once, like the frontend, and an ask in between is asked again.)
    let view;
    await until(async () => {
      view = await ack(admins[0], 'support:desk', {}).catch(() => null);
      return view?.ok === true && view.agents.find((a) => a.id === gus.id)?.chats.length === 0;
    }, "the dead node's agent's chats requeued", 30000, 200);
    const after = summary(view);
    assert.equal(view.agents.find((a) => a.id === gus.id).online, false);
    // The other agents are full: the chats wait, at the head (ids are
    // time-ordered, so sorted ids are oldest first).
    assert.deepEqual(after.queue.map((q) => q.roomId), [...his, ...waiting]);
    assert.deepEqual(after.queue.map((q) => q.position), after.queue.map((_, i) => i + 1));
    for (const a of AGENTS.filter((x) => x !== gus)) assert.equal(after.loads[a.id].chats.length, a.max);
  });
});
