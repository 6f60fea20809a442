// conversations:list, conversation:create with the §5 routing policy,
// messages:history paging, sync after a reconnect, users:search, broadcast.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGateway, connect, ok, fails, waitFor, assertNone, uniq, assertMessage,
  sendAndSee, directRoom, untilConnections, once, drain,
} from '../lib/gateway.mjs';

const ZERO_ID = '01900000-0000-7000-8000-000000000000';

/** Send n messages sequentially; returns the acked messages in send order. */
async function sendMany(sock, roomId, n, prefix = 'msg') {
  const out = [];
  for (let i = 0; i < n; i++) out.push((await ok(sock, 'message', { roomId, content: `${prefix} ${i}` })).message);
  return out;
}

describe('conversations:list', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('lists the caller\'s conversations, newest activity first, with unreadCount and lastMessage', async () => {
    const ada = await connect(gw, '1');
    const ian = await connect(gw, '2');
    const sam = await connect(gw, '5');
    const withIan = await directRoom(ada, '2');
    const withSam = await directRoom(ada, '5');
    // Ian writes 3 to Ada; Sam writes 1
    const fromIan = await sendMany(ian, withIan, 3, 'ian says');
    const fromSam = await sendMany(sam, withSam, 1, 'sam says');
    await waitFor(ada, 'message', (m) => m.id === fromSam[0].id);

    let list = (await ok(ada, 'conversations:list', {})).conversations;
    assert.deepEqual(list.map((c) => c.id).slice(0, 2), [withSam, withIan], 'newest activity first');
    const ci = list.find((c) => c.id === withIan);
    const cs = list.find((c) => c.id === withSam);
    assert.equal(ci.unreadCount, 3);
    assert.equal(cs.unreadCount, 1);
    assertMessage(ci.lastMessage, { id: fromIan[2].id, content: 'ian says 2' });
    assert.equal(cs.lastMessage.id, fromSam[0].id);
    assert.equal(ci.type, 'direct');
    const pIan = ci.participants.find((p) => p.id === '2');
    assert.deepEqual(pIan, { id: '2', name: 'Ian Instructor', role: 'instructor', online: true });
    assert.ok(ci.participants.some((p) => p.id === '1' && p.role === 'student'));
    // sender's own messages are not unread for the sender
    const ianList = (await ok(ian, 'conversations:list', {})).conversations;
    assert.equal(ianList.find((c) => c.id === withIan).unreadCount, 0);
    assert.ok(!ianList.some((c) => c.id === withSam), 'only the caller\'s conversations');

    // activity moves a conversation to the top
    const again = await ok(ian, 'message', { roomId: withIan, content: 'bump' });
    list = (await ok(ada, 'conversations:list', {})).conversations;
    assert.equal(list[0].id, withIan);
    assert.equal(list[0].lastMessage.id, again.message.id);
    assert.equal(list[0].unreadCount, 4);
    sam.disconnect();
    await untilConnections(gw, 2);
    list = (await ok(ada, 'conversations:list', {})).conversations;
    assert.equal(list.find((c) => c.id === withSam).participants.find((p) => p.id === '5').online, false);
    ada.disconnect(); ian.disconnect();
  });

  it('filters by type and by search', async () => {
    const ian = await connect(gw, '2');
    const name = uniq('Python study group');
    const g = await ok(ian, 'conversation:create', { type: 'group', participantIds: ['1', '3'], name });
    const direct = (await ok(ian, 'conversations:list', { type: 'direct' })).conversations;
    assert.ok(direct.length >= 1 && direct.every((c) => c.type === 'direct'));
    const groups = (await ok(ian, 'conversations:list', { type: 'group' })).conversations;
    assert.deepEqual(groups.map((c) => c.id), [g.conversation.id]);
    const found = (await ok(ian, 'conversations:list', { search: name.slice(0, 12).toLowerCase() })).conversations;
    assert.ok(found.some((c) => c.id === g.conversation.id), 'search matches the name, case-insensitively');
    const none = (await ok(ian, 'conversations:list', { search: 'zzz-no-such-conversation' })).conversations;
    assert.deepEqual(none, []);
    ian.disconnect();
  });
});

describe('conversation:create and routing (§5)', () => {
  let gw, s;
  before(async () => {
    gw = await startGateway();
    s = {};
    for (const id of ['1', '3', '4', '2', '7', '9', '5']) s[id] = await connect(gw, id);
  });
  after(async () => { await gw?.stop(); });

  it('student → instructor of an enrolled course: direct conversation, conversation:new to every participant', async () => {
    const res = await ok(s['1'], 'conversation:create', { type: 'direct', participantIds: ['2'] });
    const c = res.conversation;
    assert.equal(c.type, 'direct');
    assert.deepEqual(c.participants.map((p) => p.id).sort(), ['1', '2']);
    assert.equal(c.unreadCount, 0);
    assert.equal(c.lastMessage, null);
    const n = await waitFor(s['2'], 'conversation:new', (x) => x.id === c.id);
    assert.equal(n.type, 'direct');
    // every participant, the creator's other tabs included
    const adaTab2 = await connect(gw, '1');
    const res2 = await ok(s['1'], 'conversation:create', { type: 'direct', participantIds: ['5'] });
    await waitFor(adaTab2, 'conversation:new', (x) => x.id === res2.conversation.id);
    adaTab2.disconnect();
    // a second create for the same pair returns the same direct conversation
    const again = await ok(s['1'], 'conversation:create', { type: 'direct', participantIds: ['2'] });
    assert.equal(again.conversation.id, c.id, 'one direct conversation per pair');
    // the participant is in the room without calling join
    const m = await ok(s['1'], 'message', { roomId: c.id, content: uniq('first') });
    await waitFor(s['2'], 'message', (x) => x.id === m.message.id);
  });

  it('student → support agent: allowed', async () => {
    const res = await ok(s['1'], 'conversation:create', { type: 'direct', participantIds: ['5'] });
    await waitFor(s['5'], 'conversation:new', (x) => x.id === res.conversation.id);
  });

  const forbidden = [
    ['student → instructor of a course not enrolled in', '1', { type: 'direct', participantIds: ['7'] }],
    ['student → another student', '1', { type: 'direct', participantIds: ['3'] }],
    ['student → admin', '1', { type: 'direct', participantIds: ['9'] }],
    ['student creates a group', '1', { type: 'group', participantIds: ['2', '3'], name: 'g' }],
    ['student creates a channel', '1', { type: 'channel', participantIds: ['3'], name: 'c' }],
    ['instructor → student (direct)', '2', { type: 'direct', participantIds: ['1'] }],
    ['instructor → another instructor', '2', { type: 'direct', participantIds: ['7'] }],
    ['instructor group with a student of a course it does not teach', '2', { type: 'group', participantIds: ['1', '4'], name: 'g' }],
    ['instructor creates a channel', '2', { type: 'channel', participantIds: ['1'], name: 'c' }],
    ['support agent → a student it is not assigned to', '5', { type: 'direct', participantIds: ['3'] }],
  ];
  for (const [label, who, payload] of forbidden) {
    it(`${label} → forbidden, nothing created`, async () => {
      for (const pid of payload.participantIds) drain(s[pid], 'conversation:new');
      await fails(s[who], 'forbidden', 'conversation:create', payload);
      // marker: a message in an existing room of each would-be participant
      // (the admin is the marker's sender, so it cannot be its own marker target)
      for (const pid of payload.participantIds.filter((p) => p !== '9')) {
        const target = s[pid];
        const r = await directRoom(s['9'], pid);
        await sendAndSee(s['9'], r, [target]);
        assertNone(target, 'conversation:new', (c) => c.participants?.some((p) => p.id === who),
          `after a forbidden create by ${who}`);
      }
    });
  }

  it('guest → anyone: forbidden', async () => {
    const g = await connect(gw, null);
    await fails(g, 'forbidden', 'conversation:create', { type: 'direct', participantIds: ['5'] });
    await fails(g, 'forbidden', 'message', { recipientId: '2', content: 'hi' });
    g.disconnect();
  });

  it('instructor → admin and → support agent: allowed', async () => {
    await ok(s['2'], 'conversation:create', { type: 'direct', participantIds: ['9'] });
    await ok(s['2'], 'conversation:create', { type: 'direct', participantIds: ['5'] });
  });

  it('instructor group with students of its course: allowed; sharing it does not allow a direct between students', async () => {
    const res = await ok(s['2'], 'conversation:create', { type: 'group', participantIds: ['1', '3'], name: 'Python 101 study' });
    const c = res.conversation;
    assert.equal(c.type, 'group');
    assert.equal(c.name, 'Python 101 study');
    assert.deepEqual(c.participants.map((p) => p.id).sort(), ['1', '2', '3']);
    await waitFor(s['1'], 'conversation:new', (x) => x.id === c.id);
    await waitFor(s['3'], 'conversation:new', (x) => x.id === c.id);
    // replying inside it is allowed for everyone in it
    const m = await ok(s['3'], 'message', { roomId: c.id, content: uniq('hi group') });
    await waitFor(s['1'], 'message', (x) => x.id === m.message.id);
    await waitFor(s['2'], 'message', (x) => x.id === m.message.id);
    // but Ada and Ben may not start a direct conversation because they share a group
    await fails(s['1'], 'forbidden', 'conversation:create', { type: 'direct', participantIds: ['3'] });
    await fails(s['1'], 'forbidden', 'message', { recipientId: '3', content: 'psst' });
  });

  it('support agent → admin: allowed; admin → anyone, groups and channels: allowed', async () => {
    await ok(s['5'], 'conversation:create', { type: 'direct', participantIds: ['9'] });
    await ok(s['9'], 'conversation:create', { type: 'direct', participantIds: ['3'] });
    const ch = await ok(s['9'], 'conversation:create', { type: 'channel', participantIds: ['1', '4', '7'], name: 'Announcements' });
    assert.equal(ch.conversation.type, 'channel');
    await waitFor(s['4'], 'conversation:new', (x) => x.id === ch.conversation.id);
    const g = await ok(s['9'], 'conversation:create', { type: 'group', participantIds: ['1', '4'], name: 'Mixed' });
    await waitFor(s['1'], 'conversation:new', (x) => x.id === g.conversation.id);
  });

  it('malformed conversation:create → invalid; unknown participant → not_found', async () => {
    await fails(s['9'], 'invalid', 'conversation:create', { type: 'banana', participantIds: ['1'] });
    await fails(s['9'], 'invalid', 'conversation:create', { type: 'support', participantIds: ['1'] });
    await fails(s['9'], 'invalid', 'conversation:create', { type: 'direct' });
    await fails(s['9'], 'invalid', 'conversation:create', { type: 'direct', participantIds: '1' });
    await fails(s['9'], 'invalid', 'conversation:create', { type: 'direct', participantIds: [] });
    await fails(s['9'], 'invalid', 'conversation:create', { type: 'direct', participantIds: ['1', '3'] });
    await fails(s['9'], 'invalid', 'conversation:create', { type: 'direct', participantIds: [1] });
    await fails(s['9'], 'not_found', 'conversation:create', { type: 'direct', participantIds: ['no-such-user'] });
  });
});

describe('messages:history', () => {
  let gw, ada, ian, ben, room, sent;
  before(async () => {
    gw = await startGateway();
    ada = await connect(gw, '1');
    ian = await connect(gw, '2');
    ben = await connect(gw, '3');
    room = await directRoom(ada, '2');
    const first = (await ok(ada, 'messages:history', { roomId: room })).messages;
    sent = [...first.reverse(), ...(await sendMany(ada, room, 124, 'h'))];
  });
  after(async () => { await gw?.stop(); });

  it('ids are strictly increasing in store order', () => {
    for (let i = 1; i < sent.length; i++) assert.ok(sent[i - 1].id < sent[i].id, `id ${i} increases`);
  });

  it('no cursor → newest page, newest first; limit respected; hasMore', async () => {
    const res = await ok(ian, 'messages:history', { roomId: room, limit: 10 });
    assert.deepEqual(res.messages.map((m) => m.id), sent.slice(-10).reverse().map((m) => m.id));
    assert.equal(res.hasMore, true);
    res.messages.forEach((m) => assertMessage(m));
  });

  it('before → the previous page, newest first, down to the first with hasMore false', async () => {
    const seen = [];
    let before;
    for (let page = 0; page < 20; page++) {
      const res = await ok(ian, 'messages:history', { roomId: room, limit: 30, ...(before ? { before } : {}) });
      seen.push(...res.messages);
      if (!res.hasMore) break;
      before = res.messages[res.messages.length - 1].id;
    }
    assert.deepEqual(seen.map((m) => m.id), sent.map((m) => m.id).reverse(), 'every message exactly once, newest first');
  });

  it('after → oldest first, paging forward to the newest', async () => {
    const seen = [];
    let after = sent[0].id;
    for (let page = 0; page < 20; page++) {
      const res = await ok(ian, 'messages:history', { roomId: room, limit: 40, after });
      seen.push(...res.messages);
      if (!res.hasMore) break;
      after = res.messages[res.messages.length - 1].id;
    }
    assert.deepEqual(seen.map((m) => m.id), sent.slice(1).map((m) => m.id));
  });

  it('a limit over 100 is capped at 100', async () => {
    const res = await ok(ian, 'messages:history', { roomId: room, limit: 1000 });
    assert.equal(res.messages.length, 100);
    assert.equal(res.hasMore, true);
    const a = await ok(ian, 'messages:history', { roomId: room, after: sent[0].id, limit: 101 });
    assert.equal(a.messages.length, 100);
  });

  it('members only; unknown room → not_found; bad arguments → invalid', async () => {
    await fails(ben, 'forbidden', 'messages:history', { roomId: room });
    await fails(ben, 'not_found', 'messages:history', { roomId: 'nope-room' });
    await fails(ada, 'invalid', 'messages:history', { roomId: room, limit: -1 });
    await fails(ada, 'invalid', 'messages:history', { roomId: room, limit: 'ten' });
    await fails(ada, 'invalid', 'messages:history', { roomId: room, before: 12 });
    await fails(ada, 'invalid', 'messages:history', {});
  });
});

describe('sync after reconnect', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('returns exactly the missed messages of every room of the caller, oldest first', async () => {
    const ada = await connect(gw, '1', { reconnection: false });
    const ian = await connect(gw, '2');
    const sam = await connect(gw, '5');
    const ben = await connect(gw, '3');
    const r1 = await directRoom(ada, '2');
    const r2 = await directRoom(ada, '5');
    const otherRoom = await directRoom(ben, '2'); // Ada is not in it
    const lastSeen = await sendAndSee(ian, r1, [ada]);
    const connsBefore = (await gw.health()).body.connections;

    ada.disconnect();
    await untilConnections(gw, connsBefore - 1);
    const missed = [];
    missed.push((await ok(ian, 'message', { roomId: r1, content: 'missed 1' })).message);
    missed.push((await ok(sam, 'message', { roomId: r2, content: 'missed 2' })).message);
    await ok(ben, 'message', { roomId: otherRoom, content: 'not for ada' });
    missed.push((await ok(ian, 'message', { roomId: r1, content: 'missed 3' })).message);
    missed.push((await ok(sam, 'message', { roomId: r2, content: 'missed 4' })).message);

    ada.connect();
    await once(ada, 'connect');
    await waitFor(ada, 'session', (s) => s.userId === '1');
    const res = await ok(ada, 'sync', { since: lastSeen.id });
    assert.deepEqual(res.messages.map((m) => m.id), missed.map((m) => m.id), 'exactly the missed messages, in order');
    assert.deepEqual(res.messages.map((m) => m.content), ['missed 1', 'missed 2', 'missed 3', 'missed 4']);
    assert.equal(res.hasMore, false);
    res.messages.forEach((m) => assertMessage(m));
    // none of them arrived live while disconnected
    assertNone(ada, 'message', (m) => missed.some((x) => x.id === m.id));
    // and syncing from the newest gives nothing
    const none = await ok(ada, 'sync', { since: missed[3].id });
    assert.deepEqual(none.messages, []);
    assert.equal(none.hasMore, false);
    // live delivery works again after the reconnect, without join
    await sendAndSee(ian, r1, [ada]);
    for (const x of [ada, ian, sam, ben]) x.disconnect();
  });

  it('includes edits made while away (the edited message, editedAt set)', async () => {
    const ada = await connect(gw, '1');
    const ian = await connect(gw, '2');
    const r = await directRoom(ada, '2');
    const m = await sendAndSee(ian, r, [ada], 'to be edited');
    const marker = await sendAndSee(ian, r, [ada], 'last seen');
    ada.disconnect();
    await ok(ian, 'message:edit', { messageId: m.id, content: 'edited while away' });
    const after = (await ok(ian, 'message', { roomId: r, content: 'new while away' })).message;
    const ada2 = await connect(gw, '1');
    const res = await ok(ada2, 'sync', { since: marker.id });
    const edited = res.messages.find((x) => x.id === m.id);
    assert.ok(edited, `sync includes the message edited while away: ${JSON.stringify(res.messages.map((x) => x.content))}`);
    assert.equal(edited.content, 'edited while away');
    assert.ok(edited.editedAt);
    assert.ok(res.messages.some((x) => x.id === after.id));
    assert.equal(new Set(res.messages.map((x) => x.id)).size, res.messages.length, 'no duplicates');
    ada2.disconnect(); ian.disconnect();
  });

  it('includes deletions made while away, so the client can drop the message', async () => {
    // Reading: a client that saw a message before it went away must learn of
    // its deletion from sync; the entry carries deletedAt and not the content.
    const ada = await connect(gw, '1');
    const ian = await connect(gw, '2');
    const r = await directRoom(ada, '2');
    const doomed = await sendAndSee(ian, r, [ada], 'secret to be deleted');
    const marker = await sendAndSee(ian, r, [ada], 'last seen before delete');
    ada.disconnect();
    await ok(ian, 'message:delete', { messageId: doomed.id });
    const ada2 = await connect(gw, '1');
    const res = await ok(ada2, 'sync', { since: marker.id });
    const entry = res.messages.find((x) => x.id === doomed.id);
    assert.ok(entry, `sync tells about the deletion: ${JSON.stringify(res.messages).slice(0, 400)}`);
    assert.ok(entry.deletedAt && !Number.isNaN(Date.parse(entry.deletedAt)), `deletedAt set: ${JSON.stringify(entry)}`);
    assert.notEqual(entry.content, 'secret to be deleted', 'the deleted content is not sent again');
    ada2.disconnect(); ian.disconnect();
  });

  it('at most 500 a call, hasMore, and the rest on the next call', async () => {
    const ada = await connect(gw, '1');
    const ian = await connect(gw, '2');
    const r = await directRoom(ada, '2');
    const since = await sendAndSee(ian, r, [ada]);
    const sent = [];
    for (let batch = 0; batch < 11; batch++) {
      const acks = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        ok(ian, 'message', { roomId: r, content: `bulk ${batch}-${i}` })));
      sent.push(...acks.map((a) => a.message));
    }
    const ids = sent.map((m) => m.id).sort();
    assert.equal(new Set(ids).size, 550);
    const first = await ok(ada, 'sync', { since: since.id });
    assert.equal(first.messages.length, 500);
    assert.equal(first.hasMore, true);
    const second = await ok(ada, 'sync', { since: first.messages[499].id });
    assert.equal(second.hasMore, false);
    const all = [...first.messages, ...second.messages].map((m) => m.id);
    assert.deepEqual(all, ids, 'all 550 in store (id) order, no gaps, no duplicates');
    ada.disconnect(); ian.disconnect();
  });

  it('sync with a malformed since → invalid', async () => {
    const ada = await connect(gw, '1');
    await fails(ada, 'invalid', 'sync', {});
    await fails(ada, 'invalid', 'sync', { since: 42 });
    await fails(ada, 'invalid', 'sync', null);
    ada.disconnect();
  });
});

describe('users:search', () => {
  let gw, ada, ian, sam;
  before(async () => {
    gw = await startGateway();
    ada = await connect(gw, '1');
    ian = await connect(gw, '2');
    sam = await connect(gw, '5');
  });
  after(async () => { await gw?.stop(); });

  it('a student finds its instructors and support agents, not other students or admins', async () => {
    const r = await ok(ada, 'users:search', { query: 'Ian' });
    assert.deepEqual(r.users.find((u) => u.id === '2'), { id: '2', name: 'Ian Instructor', role: 'instructor', online: true });
    assert.deepEqual((await ok(ada, 'users:search', { query: 'Jill' })).users, [], 'instructor of another course');
    assert.deepEqual((await ok(ada, 'users:search', { query: 'Ben' })).users, [], 'another student');
    assert.deepEqual((await ok(ada, 'users:search', { query: 'Root' })).users, [], 'an admin');
    const agents = (await ok(ada, 'users:search', { query: 'Sam' })).users;
    assert.deepEqual(agents.map((u) => [u.id, u.role, u.online]), [['5', 'support-agent', true]]);
    const gus = (await ok(ada, 'users:search', { query: 'gus' })).users;
    assert.deepEqual(gus.map((u) => [u.id, u.online]), [['8', false]], 'case-insensitive; offline shown as such');
  });

  it('role filter', async () => {
    const r = await ok(ada, 'users:search', { query: '', role: 'support-agent' });
    assert.ok(r.users.length >= 2);
    assert.ok(r.users.every((u) => u.role === 'support-agent'));
    assert.ok(!r.users.some((u) => u.id === '1'), 'not the caller');
    const i = await ok(ada, 'users:search', { query: 'i', role: 'instructor' });
    assert.deepEqual(i.users.map((u) => u.id), ['2']);
  });

  it('an instructor finds admins and agents, not students; an agent finds admins, not students', async () => {
    assert.deepEqual((await ok(ian, 'users:search', { query: 'Root' })).users.map((u) => u.id), ['9']);
    assert.deepEqual((await ok(ian, 'users:search', { query: 'Sam' })).users.map((u) => u.id), ['5']);
    assert.deepEqual((await ok(ian, 'users:search', { query: 'Ada' })).users, [], 'instructors start no direct conversation with students (§5)');
    assert.deepEqual((await ok(sam, 'users:search', { query: 'Root' })).users.map((u) => u.id), ['9']);
    assert.deepEqual((await ok(sam, 'users:search', { query: 'Ada' })).users, [], 'an agent is not assigned to Ada');
  });

  it('an admin finds everyone', async () => {
    const admin = await connect(gw, '9');
    const r = await ok(admin, 'users:search', { query: 'Student' });
    assert.deepEqual(r.users.map((u) => u.id).sort(), ['1', '11', '3', '4', '6'].sort());
    admin.disconnect();
  });

  it('a guest finds nobody (public users start only through support:start)', async () => {
    const g = await connect(gw, null);
    const r = await ok(g, 'users:search', { query: 'a' });
    assert.deepEqual(r.users, []);
    g.disconnect();
  });

  it('malformed → invalid', async () => {
    await fails(ada, 'invalid', 'users:search', { query: 42 });
    await fails(ada, 'invalid', 'users:search', { query: 'a', role: 'wizard' });
  });
});

describe('broadcast', () => {
  let gw, admin, ada, ben, ian, sam, guest;
  before(async () => {
    gw = await startGateway();
    admin = await connect(gw, '9');
    ada = await connect(gw, '1');
    ben = await connect(gw, '3');
    ian = await connect(gw, '2');
    sam = await connect(gw, '5');
    guest = await connect(gw, null);
  });
  after(async () => { await gw?.stop(); });

  it('admin broadcast to an audience reaches exactly that role', async () => {
    const content = uniq('students: exam on Friday');
    const res = await ok(admin, 'broadcast', { content, audience: 'student' });
    assertMessage(res.message, { content, authorId: '9' });
    for (const s of [ada, ben]) {
      const m = await waitFor(s, 'message', (x) => x.id === res.message.id);
      assert.equal(m.content, content);
    }
    // marker: a broadcast to everyone
    const all = await ok(admin, 'broadcast', { content: uniq('everyone: maintenance tonight') });
    for (const s of [ada, ben, ian, sam]) await waitFor(s, 'message', (x) => x.id === all.message.id);
    for (const s of [ian, sam]) assertNone(s, 'message', (x) => x.id === res.message.id, 'student-only broadcast');
    // guests are excluded from a broadcast with no audience; marker: a direct message from the admin to the guest
    const dm = await ok(admin, 'conversation:create', { type: 'direct', participantIds: [guest.session.userId] });
    await sendAndSee(admin, dm.conversation.id, [guest]);
    assertNone(guest, 'message', (x) => x.id === all.message.id || x.id === res.message.id, 'guest got a broadcast');
  });

  it('a user who connects later finds the broadcast in its conversations', async () => {
    const content = uniq('instructors: grades due');
    const res = await ok(admin, 'broadcast', { content, audience: 'instructor' });
    await waitFor(ian, 'message', (x) => x.id === res.message.id);
    const jill = await connect(gw, '7');
    const list = (await ok(jill, 'conversations:list', {})).conversations;
    const ch = list.find((c) => c.id === res.message.roomId);
    assert.ok(ch, 'the broadcast channel is among the instructor\'s conversations');
    assert.equal(ch.lastMessage.id, res.message.id);
    jill.disconnect();
  });

  it('non-admins may not broadcast; malformed broadcast is invalid', async () => {
    for (const s of [ada, ian, sam]) await fails(s, 'forbidden', 'broadcast', { content: 'spam' });
    // a guest is not signed in: unauthorized or forbidden, both refuse
    await fails(guest, ['unauthorized', 'forbidden'], 'broadcast', { content: 'spam' });
    await fails(admin, 'invalid', 'broadcast', { content: '' });
    await fails(admin, 'invalid', 'broadcast', { content: 'x', audience: 'wizards' });
    await fails(admin, 'too_large', 'broadcast', { content: 'x'.repeat(4001) });
    await sendAndSee(admin, (await directRoom(admin, '1')), [ada]);
    assertNone(ada, 'message', (x) => x.content === 'spam');
  });
});
