// Concurrency: what real clients do at the same time (retries overlapping the
// original, two people starting the same conversation at once, many reactions
// at once) must not create duplicates or lose updates. Each race is repeated a
// few rounds so that a racy gateway fails reliably rather than sometimes.
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGateway, connect, ok, waitFor, assertNone, uniq, sendAndSee, received, untilConnections, drain,
} from '../lib/gateway.mjs';

const ROUNDS = 5;

function drainReactions(socket) {
  for (const e of socket.__log) if (e.event === 'message:reaction') e.consumed = true;
}

describe('races', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });
  // a failed round must not leave users online for the next test
  afterEach(async () => { await gw.disconnectAll(); });

  it('the same clientId sent concurrently from several tabs is stored and broadcast once', async () => {
    const tabs = [await connect(gw, '1'), await connect(gw, '1'), await connect(gw, '1')];
    const ian = await connect(gw, '2');
    const room = (await ok(tabs[0], 'message', { recipientId: '2', content: 'hi' })).message.roomId;
    for (let round = 0; round < ROUNDS; round++) {
      const clientId = uniq('retry');
      const res = await Promise.all([...tabs, ...tabs].map((t) => ok(t, 'message', { roomId: room, content: `retry ${round}`, clientId })));
      const ids = new Set(res.map((r) => r.message.id));
      assert.equal(ids.size, 1, `round ${round}: ${res.length} sends of one clientId made ${ids.size} messages`);
      await waitFor(ian, 'message', (m) => m.clientId === clientId);
      await sendAndSee(tabs[0], room, [ian]);
      assertNone(ian, 'message', (m) => m.clientId === clientId, `(round ${round}: duplicate broadcast)`);
    }
    const h = await ok(ian, 'messages:history', { roomId: room, limit: 100 });
    const byClient = {};
    for (const m of h.messages) if (m.clientId) byClient[m.clientId] = (byClient[m.clientId] || 0) + 1;
    assert.ok(Object.values(byClient).every((n) => n === 1), `stored once each: ${JSON.stringify(byClient)}`);
    [...tabs, ian].forEach((s) => s.disconnect());
  });

  it('two people messaging each other at the same moment end up in one direct conversation', async () => {
    // pairs where either side may start the conversation (§5): admins with
    // instructors and agents; a fresh pair each round
    const pairs = [['9', '2'], ['9', '7'], ['9', '5'], ['10', '2'], ['10', '5']];
    for (const [a, b] of pairs.slice(0, ROUNDS)) {
      const sa = await connect(gw, a);
      const sb = await connect(gw, b);
      const [ra, rb, ra2, rb2] = await Promise.all([
        ok(sa, 'message', { recipientId: b, content: `hello ${b}` }),
        ok(sb, 'message', { recipientId: a, content: `hello ${a}` }),
        ok(sa, 'message', { recipientId: b, content: `hello again ${b}` }),
        ok(sb, 'message', { recipientId: a, content: `hello again ${a}` }),
      ]);
      const rooms = new Set([ra, rb, ra2, rb2].map((r) => r.message.roomId));
      assert.equal(rooms.size, 1, `${a} ↔ ${b}: ${rooms.size} direct conversations`);
      const list = (await ok(sa, 'conversations:list', { type: 'direct' })).conversations
        .filter((c) => c.participants.some((p) => p.id === b));
      assert.equal(list.length, 1);
      sa.disconnect(); sb.disconnect();
    }
  });

  it('concurrent conversation:create of the same direct pair returns one conversation', async () => {
    const admin = await connect(gw, '9');
    const admin2 = await connect(gw, '9');
    for (const other of ['1', '3', '4', '6', '11'].slice(0, ROUNDS)) {
      const res = await Promise.all([admin, admin2, admin, admin2].map((s) =>
        ok(s, 'conversation:create', { type: 'direct', participantIds: [other] })));
      const ids = new Set(res.map((r) => r.conversation.id));
      assert.equal(ids.size, 1, `admin ↔ ${other}: ${ids.size} direct conversations`);
    }
    admin.disconnect(); admin2.disconnect();
  });

  // message:reaction and message:updated carry the whole state, so a client
  // shows whatever arrived last: the last event must match what is stored.
  it('concurrent edits: the last message:updated a client gets is the stored version', async () => {
    const tabs = [await connect(gw, '1'), await connect(gw, '1')];
    const ian = await connect(gw, '2');
    const room = (await ok(tabs[0], 'message', { recipientId: '2', content: 'to edit' })).message.roomId;
    for (let round = 0; round < 5 * ROUNDS; round++) {
      const m = await ok(tabs[0], 'message', { roomId: room, content: `edit me ${round}` });
      await Promise.all(Array.from({ length: 10 }, (_, i) =>
        ok(tabs[i % 2], 'message:edit', { messageId: m.message.id, content: `version ${i}` })));
      await sendAndSee(tabs[0], room, [ian]);
      const shown = received(ian, 'message:updated', (x) => x.id === m.message.id).at(-1);
      const h = await ok(ian, 'messages:history', { roomId: room, limit: 5 });
      const stored = h.messages.find((x) => x.id === m.message.id);
      assert.equal(shown.content, stored.content, `round ${round}: the client shows "${shown.content}", the store has "${stored.content}"`);
      for (const e of ian.__log) if (e.event === 'message:updated') e.consumed = true;
    }
    [...tabs, ian].forEach((x) => x.disconnect());
  });

  it('many users reacting at once: no reaction is lost', async () => {
    const ids = ['1', '3', '4', '6', '11'];
    const admin = await connect(gw, '9');
    const users = await Promise.all(ids.map((id) => connect(gw, id)));
    const g = await ok(admin, 'conversation:create', { type: 'group', participantIds: ids, name: uniq('reactions') });
    for (let round = 0; round < 5 * ROUNDS; round++) {
      const m = await ok(admin, 'message', { roomId: g.conversation.id, content: `react to me ${round}` });
      await Promise.all(users.map((u) => ok(u, 'message:react', { messageId: m.message.id, emoji: '👍' })));
      await Promise.all(users.flatMap((u) => ['🎉', '❤️', '😂', '🚀'].map((emoji) =>
        ok(u, 'message:react', { messageId: m.message.id, emoji }))));
      // what clients show: the last message:reaction each member received (before the marker)
      await sendAndSee(admin, g.conversation.id, users);
      const shown = users.map((u) => received(u, 'message:reaction', (x) => x.messageId === m.message.id).at(-1));
      // stored state: the ack of one more toggle (👀, on and off again) carries every reaction
      const stored = { ...(await ok(admin, 'message:react', { messageId: m.message.id, emoji: '👀' })).reactions };
      await ok(admin, 'message:react', { messageId: m.message.id, emoji: '👀' });
      delete stored['👀'];
      assert.deepEqual([...(stored['👍'] || [])].sort(), [...ids].sort(), `round ${round}: 👍 lost in the store`);
      for (const e of ['🎉', '❤️', '😂', '🚀']) {
        assert.deepEqual([...(stored[e] || [])].sort(), [...ids].sort(), `round ${round}: ${e} lost in the store`);
      }
      users.forEach((u, i) => {
        assert.ok(shown[i], 'message:reaction events arrived');
        const norm = (r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v.length).map(([k, v]) => [k, [...v].sort()]));
        assert.deepEqual(norm(shown[i].reactions), norm(stored),
          `round ${round}: the last message:reaction user ${u.session.userId} received is stale (reaction events sent out of order)`);
      });
      for (const u of users) drainReactions(u);
      // a toggle by everyone at once removes them all
      await Promise.all(users.map((u) => ok(u, 'message:react', { messageId: m.message.id, emoji: '👍' })));
      const final = await ok(admin, 'message:react', { messageId: m.message.id, emoji: '🎉' });
      assert.equal((final.reactions['👍'] || []).length, 0, `round ${round}: 👍 left after everyone toggled off`);
      assert.deepEqual([...final.reactions['🎉']].sort(), [...ids, '9'].sort());
      assert.deepEqual([...final.reactions['🚀']].sort(), [...ids].sort());
      assert.equal((final.reactions['👀'] || []).length, 0);
    }
    [admin, ...users].forEach((s) => s.disconnect());
  });

  it('sync while messages are being written: following the cursor never skips a message', async () => {
    // A client that syncs from its last id while others write must get every
    // message: an id handed out before a slower commit must not appear after
    // a cursor that already moved past it.
    const senders = [await connect(gw, '9'), await connect(gw, '9'), await connect(gw, '9')];
    const reader = await connect(gw, '2');
    const room = (await ok(senders[0], 'message', { recipientId: '2', content: 'sync race start' })).message.roomId;
    let cursor = (await ok(reader, 'messages:history', { roomId: room, limit: 1 })).messages[0].id;
    const seen = new Map();
    let writing = true;
    const writer = (async () => {
      const all = [];
      for (let batch = 0; batch < 10; batch++) {
        all.push(...(await Promise.all(senders.flatMap((s) => Array.from({ length: 10 }, (_, i) =>
          ok(s, 'message', { roomId: room, content: `w${batch}-${i}` }))))));
      }
      writing = false;
      return all.map((a) => a.message.id);
    })();
    for (let i = 0; i < 2000 && (writing || i === 0); i++) {
      const r = await ok(reader, 'sync', { since: cursor });
      for (const m of r.messages) seen.set(m.id, m);
      if (r.messages.length) cursor = r.messages.at(-1).id;
    }
    const written = await writer;
    for (let i = 0; i < 20; i++) {
      const r = await ok(reader, 'sync', { since: cursor });
      for (const m of r.messages) seen.set(m.id, m);
      if (!r.messages.length) break;
      cursor = r.messages.at(-1).id;
    }
    const missing = written.filter((id) => !seen.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${written.length} messages were skipped by a client following sync`);
  });

  it('read receipts from many tabs at once leave the right unread count', async () => {
    const ian = await connect(gw, '2');
    const adaTabs = await Promise.all([1, 2, 3, 4].map(() => connect(gw, '1')));
    const room = (await ok(ian, 'message', { recipientId: '1', content: 'r0' })).message.roomId;
    const msgs = [];
    for (let i = 0; i < 8; i++) msgs.push((await ok(ian, 'message', { roomId: room, content: `r${i + 1}` })).message);
    // tabs mark different messages read at once; the newest mark wins
    await Promise.all(adaTabs.flatMap((t, i) => [ok(t, 'read', { roomId: room, messageId: msgs[i].id }), ok(t, 'read', { roomId: room, messageId: msgs[7 - i].id })]));
    const c = (await ok(adaTabs[0], 'conversations:list', {})).conversations.find((x) => x.id === room);
    assert.equal(c.unreadCount, 0);
    [ian, ...adaTabs].forEach((s) => s.disconnect());
  });
});

// Presence under concurrency; a fresh gateway per test, since a presence
// counter that went wrong in one test would otherwise break the next.
describe('presence races', () => {
  let gw;
  beforeEach(async () => { gw = await startGateway(); });
  afterEach(async () => { await gw?.stop(); });

  async function presenceSetup() {
    const ada = await connect(gw, '1');
    const ian0 = await connect(gw, '2');
    const room = (await ok(ada, 'message', { recipientId: '2', content: 'presence race' })).message.roomId;
    ian0.disconnect();
    await waitFor(ada, 'user:offline', (id) => id === '2');
    // Ada and Ian may share a room from an earlier test, so ian0's own
    // user:online may have arrived too: forget presence seen so far
    drain(ada, 'user:online');
    drain(ada, 'user:offline');
    return { ada, room };
  }

  async function offlineOrFail(ada, round) {
    try {
      await waitFor(ada, 'user:offline', (id) => id === '2');
    } catch {
      throw new Error(`round ${round}: every tab of Ian is closed (/health is back to its count) but no user:offline came`);
    }
  }

  it('six tabs opening at once: exactly one user:online', async () => {
    const { ada, room } = await presenceSetup();
    for (let round = 0; round < 2 * ROUNDS; round++) {
      const base = (await gw.health()).body.connections;
      const tabs = await Promise.all(Array.from({ length: 6 }, () => connect(gw, '2')));
      await waitFor(ada, 'user:online', (id) => id === '2');
      await sendAndSee(tabs[0], room, [ada]);
      assertNone(ada, 'user:online', (id) => id === '2', `(round ${round}: more than one for six tabs opened at once)`);
      tabs.forEach((t) => t.disconnect());
      await untilConnections(gw, base);
      await offlineOrFail(ada, round);
    }
  });

  it('six tabs closing at once: exactly one user:offline, and shown offline', async () => {
    const { ada, room } = await presenceSetup();
    for (let round = 0; round < 2 * ROUNDS; round++) {
      const base = (await gw.health()).body.connections;
      const tabs = [];
      for (let i = 0; i < 6; i++) tabs.push(await connect(gw, '2'));
      await waitFor(ada, 'user:online', (id) => id === '2');
      tabs.forEach((t) => t.disconnect());
      await untilConnections(gw, base);
      await offlineOrFail(ada, round);
      const c = (await ok(ada, 'conversations:list', {})).conversations.find((x) => x.id === room);
      assert.equal(c.participants.find((p) => p.id === '2').online, false, `round ${round}: Ian still shown online`);
      // marker: Ian comes back with one tab; its user:online must be the next presence event
      const back = await connect(gw, '2');
      await waitFor(ada, 'user:online', (id) => id === '2');
      assertNone(ada, 'user:offline', (id) => id === '2', `(round ${round}: more than one user:offline for six tabs closed at once)`);
      back.disconnect();
      await waitFor(ada, 'user:offline', (id) => id === '2');
    }
  });
});
