// Two gateway nodes on one PostgreSQL database (COMPAT_DATABASE_URL; run by
// `COMPAT_STORE=postgres scripts/test-compat.sh`, skipped on SQLite): a
// message acked by one node is in the other node's history and sync, and a
// client syncing on one node while both write gets every message once.
// (Live delivery across nodes is the Redis adapter's job, not tested here.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, connect, ok, directRoom } from '../lib/gateway.mjs';

const PG = process.env.COMPAT_DATABASE_URL;

describe('two gateway nodes on one PostgreSQL database', { skip: !PG && 'needs COMPAT_DATABASE_URL (PostgreSQL)' }, () => {
  let node1;
  let node2;
  before(async () => {
    node1 = await startGateway();
    node2 = await startGateway({ databaseUrl: node1.databaseUrl });
    node2.keep(); // node1 drops the shared database when it stops
  });
  after(async () => {
    await node2?.stop();
    await node1?.stop();
  });

  it('history and sync on one node show what the other acked, in commit order', async () => {
    const ada = await connect(node1, '1');
    const ian = await connect(node2, '2');
    const room = await directRoom(ada, '2');
    const first = (await ok(ada, 'message', { roomId: room, content: 'from node 1' })).message;
    assert.deepEqual((await ok(ian, 'sync', { since: first.id })).messages, []);
    const reply = (await ok(ian, 'message', { roomId: room, content: 'from node 2' })).message;
    const later = (await ok(ada, 'message', { roomId: room, content: 'node 1 again' })).message;
    const synced = await ok(ian, 'sync', { since: first.id });
    assert.deepEqual(synced.messages.map((m) => m.id), [reply.id, later.id]);
    const history = await ok(ada, 'messages:history', { roomId: room, limit: 10 });
    const ids = history.messages.map((m) => m.id);
    for (const m of [first, reply, later]) assert.ok(ids.includes(m.id), `node 1's history has "${m.content}"`);
  });

  it('each node counts its append commits (chat_store_commit_writes) before it acks', async () => {
    const count = async (node) => {
      const text = (await node.metrics()).text;
      return Number(text.match(/^chat_store_commit_writes_count(?:\{[^}]*\})? (\d+)/m)?.[1] ?? 0);
    };
    const before = await count(node2);
    const ian = await connect(node2, '2');
    const room = await directRoom(ian, '1');
    await ok(ian, 'message', { roomId: room, content: 'counted' });
    const after = await count(node2);
    assert.ok(after >= before + 1, `commits before ${before}, after ${after}`);
  });

  it('both nodes writing at once: a client syncing on one gets every acked message once', async () => {
    const ada = await connect(node1, '1');
    const ian = await connect(node2, '2');
    const reader = await connect(node2, '1');
    const room = await directRoom(ada, '2');
    const start = (await ok(ada, 'message', { roomId: room, content: 'start' })).message;
    const acked = [];
    const send = async (sock, who) => {
      for (let i = 0; i < 40; i++) acked.push((await ok(sock, 'message', { roomId: room, content: `${who} ${i}` })).message.id);
    };
    const writing = Promise.all([send(ada, 'ada'), send(ian, 'ian')]);
    let done = false;
    writing.then(() => { done = true; });
    const seen = [];
    let cursor = start.id;
    const deadline = Date.now() + 60000;
    for (;;) {
      assert.ok(Date.now() < deadline, 'bounded: 60 s');
      const wasDone = done;
      const res = await ok(reader, 'sync', { since: cursor });
      for (const m of res.messages) seen.push(m.id);
      if (res.messages.length) cursor = res.messages.at(-1).id;
      if (wasDone && !res.hasMore) break;
    }
    await writing;
    assert.equal(new Set(seen).size, seen.length, 'no message twice');
    assert.deepEqual([...seen].sort(), [...acked].sort(), 'every acked message');
  });
});
