// §3 events on a room: join/leave (both spellings), message (direct by
// recipientId, clientId idempotency, parentId), typing (three spellings, expiry),
// read receipts, edit, delete, react; two users in two rooms.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGateway, connect, ok, fails, ack, waitFor, assertNone, uniq, assertMessage,
  sendAndSee, directRoom, ISO, delay, untilConnections,
} from '../lib/gateway.mjs';

const TYPING_TIMEOUT_MS = 400;

describe('room events', () => {
  let gw, ada, ian, ben, admin, room;
  before(async () => {
    gw = await startGateway({ args: ['--typing-timeout-ms', String(TYPING_TIMEOUT_MS)] });
    ada = await connect(gw, '1');
    ian = await connect(gw, '2');
    ben = await connect(gw, '3');
    admin = await connect(gw, '9');
    room = await directRoom(ada, '2');
    await waitFor(ian, 'message', (m) => m.roomId === room);
  });
  after(async () => { await gw?.stop(); });

  it('message: persisted, acked with the whole §4 message, broadcast to the room', async () => {
    const content = uniq('hello');
    const res = await ok(ada, 'message', { roomId: room, content, clientId: 'c-shape-1' });
    const m = assertMessage(res.message, {
      roomId: room, authorId: '1', authorName: 'Ada Student', content, type: 'text',
      attachments: [], parentId: null, clientId: 'c-shape-1', editedAt: null,
    });
    assert.ok(Math.abs(Date.parse(m.createdAt) - Date.now()) < 60_000);
    const got = await waitFor(ian, 'message', (x) => x.id === m.id);
    assert.deepEqual(got, m, 'the broadcast message equals the acked one');
  });

  it('message with recipientId only finds or creates the one direct conversation', async () => {
    const a = await ok(ada, 'message', { recipientId: '2', content: uniq('again') });
    assert.equal(a.message.roomId, room, 'same direct room as before');
    const b = await ok(ian, 'message', { recipientId: '1', content: uniq('other way') });
    assert.equal(b.message.roomId, room, 'the reverse direction finds the same room');
    await waitFor(ada, 'message', (m) => m.id === b.message.id);
    const list = await ok(ada, 'conversations:list', { type: 'direct' });
    assert.equal(list.conversations.filter((c) => c.participants.some((p) => p.id === '2')).length, 1);
  });

  it('a new direct conversation announces conversation:new to the recipient, who then gets the message', async () => {
    // Ben (student of py101) → Ian (its instructor): allowed, new conversation
    const res = await ok(ben, 'message', { recipientId: '2', content: uniq('ben asks') });
    const conv = await waitFor(ian, 'conversation:new', (c) => c.id === res.message.roomId);
    assert.equal(conv.type, 'direct');
    assert.deepEqual(conv.participants.map((p) => p.id).sort(), ['2', '3']);
    await waitFor(ian, 'message', (m) => m.id === res.message.id);
  });

  it('clientId makes a resend idempotent: same message back, nothing new broadcast', async () => {
    const clientId = uniq('cid');
    const content = uniq('once');
    const first = await ok(ada, 'message', { roomId: room, content, clientId });
    const second = await ok(ada, 'message', { roomId: room, content, clientId });
    assert.deepEqual(second.message, first.message, 'the resend returns the first message');
    // even with different content, the (userId, clientId) pair returns the first message
    const third = await ok(ada, 'message', { roomId: room, content: content + ' edited?', clientId });
    assert.equal(third.message.id, first.message.id);
    assert.equal(third.message.content, content);
    await waitFor(ian, 'message', (m) => m.id === first.message.id);
    await sendAndSee(ada, room, [ian]);
    assertNone(ian, 'message', (m) => m.clientId === clientId, '(duplicate broadcast of an idempotent resend)');
    const hist = await ok(ian, 'messages:history', { roomId: room, limit: 100 });
    assert.equal(hist.messages.filter((m) => m.clientId === clientId).length, 1, 'stored once');
  });

  it('clientId is per user: the same clientId from another user is another message', async () => {
    const clientId = uniq('shared-cid');
    const a = await ok(ada, 'message', { roomId: room, content: 'from ada', clientId });
    const b = await ok(ian, 'message', { roomId: room, content: 'from ian', clientId });
    assert.notEqual(a.message.id, b.message.id);
    assert.equal(b.message.authorId, '2');
  });

  it('parentId replies carry the parent id', async () => {
    const parent = await ok(ada, 'message', { roomId: room, content: uniq('question') });
    const reply = await ok(ian, 'message', { roomId: room, content: uniq('answer'), parentId: parent.message.id });
    assert.equal(reply.message.parentId, parent.message.id);
    const got = await waitFor(ada, 'message', (m) => m.id === reply.message.id);
    assert.equal(got.parentId, parent.message.id);
  });

  it('parentId of an unknown message → not_found; of a message in another room → refused', async () => {
    await fails(ada, 'not_found', 'message', { roomId: room, content: 'x', parentId: '01900000-0000-7000-8000-000000000000' });
    const other = await ok(ben, 'message', { recipientId: '2', content: uniq('ben room') });
    // The spec names no code for a parent in another room; a production chat
    // must refuse it, without revealing the other room: not_found or invalid.
    await fails(ada, ['not_found', 'invalid', 'forbidden'], 'message', { roomId: room, content: 'x', parentId: other.message.id });
  });

  it('content is trimmed, control characters removed (newline and tab kept)', async () => {
    const res = await ok(ada, 'message', { roomId: room, content: '   hi\u0000\u0007 there\n\tok\u001b  ' });
    assert.equal(res.message.content, 'hi there\n\tok');
    await fails(ada, 'invalid', 'message', { roomId: room, content: '   \n\t  ' });
    await fails(ada, 'invalid', 'message', { roomId: room, content: '\u0001\u0002\u0003' });
    await fails(ada, 'invalid', 'message', { roomId: room, content: '' });
  });

  it('content limit: 4000 characters after trimming is fine, 4001 is too_large', async () => {
    const exact = 'é'.repeat(4000); // characters, not bytes
    const r = await ok(ada, 'message', { roomId: room, content: `  ${exact}  ` });
    assert.equal(r.message.content.length, 4000);
    await fails(ada, 'too_large', 'message', { roomId: room, content: 'x'.repeat(4001) });
    await fails(ada, 'too_large', 'message', { roomId: room, content: 'x'.repeat(200_000) });
  });

  for (const [ev, shape] of [['join', 'object'], ['join:room', 'object'], ['join', 'string'], ['join:room', 'string']]) {
    it(`${ev} with ${shape === 'object' ? '{ roomId }' : 'a bare roomId'}: ack room, user:joined to the others`, async () => {
      const res = await ok(ian, ev, shape === 'object' ? { roomId: room } : room);
      assert.ok(res.room && typeof res.room === 'object', `ack has room: ${JSON.stringify(res)}`);
      assert.equal(res.room.id, room);
      assert.equal(res.room.type, 'direct');
      assert.ok(Array.isArray(res.room.participants));
      const j = await waitFor(ada, 'user:joined', (x) => x.roomId === room && x.userId === '2');
      assert.deepEqual(j, { userId: '2', roomId: room });
    });
  }

  for (const [ev, shape] of [['leave', 'object'], ['leave:room', 'object'], ['leave', 'string'], ['leave:room', 'string']]) {
    it(`${ev} with ${shape === 'object' ? '{ roomId }' : 'a bare roomId'}: user:left to the others`, async () => {
      await ok(ian, 'join', { roomId: room });
      await waitFor(ada, 'user:joined', (x) => x.roomId === room && x.userId === '2');
      const res = await ack(ian, ev, shape === 'object' ? { roomId: room } : room);
      assert.equal(res.ok, true, JSON.stringify(res));
      const l = await waitFor(ada, 'user:left', (x) => x.roomId === room && x.userId === '2');
      assert.deepEqual(l, { userId: '2', roomId: room });
    });
  }

  it('join marks the room read up to its newest message', async () => {
    await ok(ada, 'message', { roomId: room, content: uniq('unread 1') });
    const last = await ok(ada, 'message', { roomId: room, content: uniq('unread 2') });
    let list = await ok(ian, 'conversations:list', {});
    let c = list.conversations.find((x) => x.id === room);
    assert.ok(c.unreadCount >= 2, `unreadCount before join: ${c.unreadCount}`);
    assert.equal(c.lastMessage.id, last.message.id);
    await ok(ian, 'join', { roomId: room });
    await waitFor(ada, 'user:joined', (x) => x.roomId === room && x.userId === '2');
    list = await ok(ian, 'conversations:list', {});
    c = list.conversations.find((x) => x.id === room);
    assert.equal(c.unreadCount, 0);
  });

  it('join: unknown room → not_found; someone else\'s room → forbidden; admin may join any room', async () => {
    await fails(ben, 'not_found', 'join', { roomId: 'no-such-room' });
    await fails(ben, 'not_found', 'join:room', '01900000-0000-7000-8000-000000000000');
    await fails(ben, 'forbidden', 'join', { roomId: room });
    await fails(ben, 'forbidden', 'join:room', room);
    const res = await ok(admin, 'join', { roomId: room });
    assert.equal(res.room.id, room);
    await waitFor(ada, 'user:joined', (x) => x.roomId === room && x.userId === '9');
  });

  it('user:joined, user:left and typing go to the others, not back to the sender', async () => {
    await ok(ian, 'join', { roomId: room });
    await waitFor(ada, 'user:joined', (x) => x.roomId === room && x.userId === '2');
    await ok(ian, 'leave', { roomId: room });
    await waitFor(ada, 'user:left', (x) => x.roomId === room && x.userId === '2');
    ian.emit('typing:start', room);
    await waitFor(ada, 'typing', (x) => x.roomId === room && x.userId === '2' && x.isTyping);
    ian.emit('typing:stop', room);
    await waitFor(ada, 'typing', (x) => x.roomId === room && x.userId === '2' && !x.isTyping);
    await sendAndSee(ada, room, [ian]);
    assertNone(ian, 'user:joined', (x) => x.userId === '2', '(echo of own join)');
    assertNone(ian, 'user:left', (x) => x.userId === '2', '(echo of own leave)');
    assertNone(ian, 'typing', (x) => x.userId === '2', '(echo of own typing)');
  });

  // Reading: join "lets an admin in" to a conversation it is not a participant
  // of (moderation); leave lets it out again. A student would not expect an admin
  // who once looked in to keep receiving the private conversation for good.
  it('an admin who joins a room gets its events; after leave, no more', async () => {
    const root = await connect(gw, '10'); // Ruth Admin, not a participant
    await ok(root, 'join', { roomId: room });
    await waitFor(ada, 'user:joined', (x) => x.roomId === room && x.userId === '10');
    const m = await ok(ada, 'message', { roomId: room, content: uniq('admin can see') });
    await waitFor(root, 'message', (x) => x.id === m.message.id);
    await ok(root, 'leave', { roomId: room });
    await waitFor(ada, 'user:left', (x) => x.userId === '10');
    const m2 = await ok(ada, 'message', { roomId: room, content: uniq('after admin left') });
    await waitFor(ian, 'message', (x) => x.id === m2.message.id);
    const own = await directRoom(root, '1');
    await sendAndSee(ada, own, [root]);
    assertNone(root, 'message', (x) => x.id === m2.message.id, '(the admin left the room)');
    root.disconnect();
  });

  it('join ignores a forged userId in the payload', async () => {
    await ok(ian, 'join', { roomId: room, userId: '3' });
    const j = await waitFor(ada, 'user:joined', (x) => x.roomId === room && x.userId !== '9');
    assert.equal(j.userId, '2');
  });

  it('typing {roomId} (isTyping defaults to true) and {isTyping:false}', async () => {
    ada.emit('typing', { roomId: room });
    let t = await waitFor(ian, 'typing', (x) => x.roomId === room && x.userId === '1');
    assert.deepEqual(t, { userId: '1', roomId: room, isTyping: true });
    ada.emit('typing', { roomId: room, isTyping: false });
    t = await waitFor(ian, 'typing', (x) => x.roomId === room && x.userId === '1');
    assert.deepEqual(t, { userId: '1', roomId: room, isTyping: false });
  });

  it('typing:start / typing:stop with a bare roomId', async () => {
    ada.emit('typing:start', room);
    let t = await waitFor(ian, 'typing', (x) => x.roomId === room && x.userId === '1');
    assert.equal(t.isTyping, true);
    ada.emit('typing:stop', room);
    t = await waitFor(ian, 'typing', (x) => x.roomId === room && x.userId === '1');
    assert.equal(t.isTyping, false);
  });

  it(`typing:start with no stop expires after the configured timeout (${TYPING_TIMEOUT_MS} ms)`, async () => {
    const t0 = Date.now();
    ada.emit('typing:start', room);
    await waitFor(ian, 'typing', (x) => x.roomId === room && x.userId === '1' && x.isTyping === true);
    const stop = await waitFor(ian, 'typing', (x) => x.roomId === room && x.userId === '1', TYPING_TIMEOUT_MS + 3000);
    const elapsed = Date.now() - t0;
    assert.equal(stop.isTyping, false, 'expiry sends isTyping:false');
    assert.ok(elapsed >= TYPING_TIMEOUT_MS - 50, `expired after ${elapsed} ms, not before the timeout`);
  });

  // The timing tests below each use a room of their own, so that a timer left
  // over from another test cannot interfere.
  it('a repeated typing:start extends the expiry (no flicker while someone keeps typing)', async () => {
    const benRoom = await directRoom(ben, '2');
    await waitFor(ian, 'message', (m) => m.roomId === benRoom);
    ben.emit('typing:start', benRoom);
    await waitFor(ian, 'typing', (x) => x.roomId === benRoom && x.isTyping === true);
    // The timer itself is under test here: re-send the start well inside the timeout.
    await delay(TYPING_TIMEOUT_MS / 2);
    const t1 = Date.now();
    ben.emit('typing:start', benRoom);
    const stop = await waitFor(ian, 'typing', (x) => x.roomId === benRoom && x.isTyping === false, TYPING_TIMEOUT_MS + 3000);
    const sinceSecond = Date.now() - t1;
    assert.equal(stop.userId, '3');
    assert.ok(sinceSecond >= TYPING_TIMEOUT_MS - 50, `expired ${sinceSecond} ms after the second start: the timer was not reset`);
  });

  it('a stop then a new start: the new typing lasts the full timeout (an old timer does not end it)', async () => {
    const dan = await connect(gw, '6');
    const jill = await connect(gw, '7');
    const r = await directRoom(dan, '7');
    await waitFor(jill, 'message', (m) => m.roomId === r);
    dan.emit('typing:start', r);
    await waitFor(jill, 'typing', (x) => x.roomId === r && x.isTyping === true);
    dan.emit('typing:stop', r);
    await waitFor(jill, 'typing', (x) => x.roomId === r && x.isTyping === false);
    // the first start's timer would fire TYPING_TIMEOUT_MS after it; start again halfway
    await delay(TYPING_TIMEOUT_MS / 2);
    const t2 = Date.now();
    dan.emit('typing:start', r);
    await waitFor(jill, 'typing', (x) => x.roomId === r && x.isTyping === true);
    const stop = await waitFor(jill, 'typing', (x) => x.roomId === r && x.isTyping === false, TYPING_TIMEOUT_MS + 3000);
    const lasted = Date.now() - t2;
    assert.equal(stop.userId, '6');
    assert.ok(lasted >= TYPING_TIMEOUT_MS - 50,
      `the second typing ended ${lasted} ms after its start (timeout ${TYPING_TIMEOUT_MS} ms): a stale timer of the first start ended it`);
    dan.disconnect(); jill.disconnect();
  });

  it('a typist who disconnects stops typing for the others', async () => {
    const cleo = await connect(gw, '4');
    const jill = await connect(gw, '7');
    const r = await directRoom(cleo, '7');
    await waitFor(jill, 'message', (m) => m.roomId === r);
    cleo.emit('typing:start', r);
    await waitFor(jill, 'typing', (x) => x.roomId === r && x.isTyping === true);
    cleo.disconnect();
    const stop = await waitFor(jill, 'typing', (x) => x.roomId === r, TYPING_TIMEOUT_MS + 3000);
    assert.deepEqual(stop, { userId: '4', roomId: r, isTyping: false });
    jill.disconnect();
  });

  it('typing ignores a forged userId and is not sent to non-members', async () => {
    ada.emit('typing', { roomId: room, isTyping: true, userId: '9' });
    const t = await waitFor(ian, 'typing', (x) => x.roomId === room);
    assert.equal(t.userId, '1');
    ada.emit('typing:stop', room);
    await waitFor(ian, 'typing', (x) => x.roomId === room && x.isTyping === false);
    const benRoom = await directRoom(ben, '2');
    await sendAndSee(ian, benRoom, [ben]);
    assertNone(ben, 'typing', (x) => x.roomId === room);
  });

  for (const ev of ['read', 'message:read']) {
    it(`${ev} {roomId, messageId}: persisted receipt, message:read to the room`, async () => {
      const m1 = await ok(ada, 'message', { roomId: room, content: uniq('r1') });
      const m2 = await ok(ada, 'message', { roomId: room, content: uniq('r2') });
      ian.emit(ev, { roomId: room, messageId: m1.message.id });
      const r = await waitFor(ada, 'message:read', (x) => x.roomId === room && x.userId === '2' && x.messageId === m1.message.id);
      assert.match(r.readAt, ISO);
      assert.deepEqual(Object.keys(r).sort(), ['messageId', 'readAt', 'roomId', 'userId']);
      let c = (await ok(ian, 'conversations:list', {})).conversations.find((x) => x.id === room);
      assert.equal(c.unreadCount, 1, 'one message after the read mark');
      // persisted: a new connection of Ian sees the same count
      const ian2 = await connect(gw, '2');
      c = (await ok(ian2, 'conversations:list', {})).conversations.find((x) => x.id === room);
      assert.equal(c.unreadCount, 1);
      const res = await ok(ian2, ev, { roomId: room, messageId: m2.message.id });
      assert.equal(res.ok, true);
      await waitFor(ada, 'message:read', (x) => x.messageId === m2.message.id && x.userId === '2');
      c = (await ok(ian2, 'conversations:list', {})).conversations.find((x) => x.id === room);
      assert.equal(c.unreadCount, 0);
      ian2.disconnect();
    });
  }

  it('reading an older message after a newer one does not move the read mark back', async () => {
    const m1 = await ok(ada, 'message', { roomId: room, content: uniq('older') });
    const m2 = await ok(ada, 'message', { roomId: room, content: uniq('newer') });
    await ok(ian, 'read', { roomId: room, messageId: m2.message.id });
    await ok(ian, 'read', { roomId: room, messageId: m1.message.id });
    const c = (await ok(ian, 'conversations:list', {})).conversations.find((x) => x.id === room);
    assert.equal(c.unreadCount, 0);
  });

  it('read: forged userId ignored; someone else\'s room forbidden', async () => {
    const m = await ok(ada, 'message', { roomId: room, content: uniq('r3') });
    ian.emit('read', { roomId: room, messageId: m.message.id, userId: '9' });
    const r = await waitFor(ada, 'message:read', (x) => x.messageId === m.message.id);
    assert.equal(r.userId, '2');
    await fails(ben, 'forbidden', 'read', { roomId: room, messageId: m.message.id });
  });

  it('message:edit by the author: ack message with editedAt, message:updated to the room', async () => {
    const m = await ok(ada, 'message', { roomId: room, content: uniq('typo') });
    const content = uniq('fixed');
    const res = await ok(ada, 'message:edit', { messageId: m.message.id, content });
    assertMessage(res.message, { id: m.message.id, content, roomId: room, authorId: '1', createdAt: m.message.createdAt });
    assert.match(res.message.editedAt, ISO);
    const u = await waitFor(ian, 'message:updated', (x) => x.id === m.message.id);
    assert.deepEqual(u, res.message, 'message:updated carries the whole message');
    const hist = await ok(ian, 'messages:history', { roomId: room, limit: 100 });
    assert.equal(hist.messages.find((x) => x.id === m.message.id).content, content, 'the edit is persisted');
  });

  it('message:edit by anyone else → forbidden (an admin too: author only); unknown → not_found; validated', async () => {
    const m = await ok(ada, 'message', { roomId: room, content: uniq('mine') });
    await fails(ian, 'forbidden', 'message:edit', { messageId: m.message.id, content: 'hijack' });
    await fails(admin, 'forbidden', 'message:edit', { messageId: m.message.id, content: 'hijack' });
    await fails(ben, ['forbidden', 'not_found'], 'message:edit', { messageId: m.message.id, content: 'hijack' });
    await fails(ada, 'not_found', 'message:edit', { messageId: '01900000-0000-7000-8000-000000000000', content: 'x' });
    await fails(ada, 'invalid', 'message:edit', { messageId: m.message.id, content: '   ' });
    await fails(ada, 'too_large', 'message:edit', { messageId: m.message.id, content: 'y'.repeat(4001) });
    await fails(ada, 'invalid', 'message:edit', { messageId: m.message.id });
    const hist = await ok(ada, 'messages:history', { roomId: room, limit: 100 });
    const stored = hist.messages.find((x) => x.id === m.message.id);
    assert.equal(stored.content, m.message.content, 'failed edits changed nothing');
    assert.equal(stored.editedAt, null);
  });

  it('message:delete by the author → message:deleted {roomId, messageId} to the room', async () => {
    const m = await ok(ada, 'message', { roomId: room, content: uniq('oops') });
    const res = await ack(ada, 'message:delete', { messageId: m.message.id });
    assert.equal(res.ok, true, JSON.stringify(res));
    const d = await waitFor(ian, 'message:deleted', (x) => x.messageId === m.message.id);
    assert.deepEqual(d, { roomId: room, messageId: m.message.id });
    const hist = await ok(ian, 'messages:history', { roomId: room, limit: 100 });
    assert.ok(!hist.messages.some((x) => x.id === m.message.id && x.content === m.message.content),
      'the deleted content is gone from history');
  });

  it('message:delete by a non-author non-admin → forbidden; by an admin → ok', async () => {
    const m = await ok(ada, 'message', { roomId: room, content: uniq('keep') });
    await fails(ian, 'forbidden', 'message:delete', { messageId: m.message.id });
    await fails(ada, 'not_found', 'message:delete', { messageId: '01900000-0000-7000-8000-000000000000' });
    await ok(admin, 'message:delete', { messageId: m.message.id });
    await waitFor(ada, 'message:deleted', (x) => x.messageId === m.message.id);
    await waitFor(ian, 'message:deleted', (x) => x.messageId === m.message.id);
  });

  it('a deleted message can no longer be edited, reacted to or replied to; it leaves lastMessage', async () => {
    const keep = await ok(ada, 'message', { roomId: room, content: uniq('stays') });
    const gone = await ok(ada, 'message', { roomId: room, content: uniq('goes') });
    await ok(ada, 'message:delete', { messageId: gone.message.id });
    await waitFor(ian, 'message:deleted', (x) => x.messageId === gone.message.id);
    await fails(ada, 'not_found', 'message:edit', { messageId: gone.message.id, content: 'revive' });
    await fails(ian, 'not_found', 'message:react', { messageId: gone.message.id, emoji: '👍' });
    await fails(ian, 'not_found', 'message', { roomId: room, content: 're', parentId: gone.message.id });
    await fails(ada, 'not_found', 'message:delete', { messageId: gone.message.id });
    const c = (await ok(ian, 'conversations:list', {})).conversations.find((x) => x.id === room);
    assert.equal(c.lastMessage?.id, keep.message.id, 'lastMessage falls back to the newest message still there');
  });

  it('read with a message of another room is refused', async () => {
    const other = await ok(ben, 'message', { recipientId: '2', content: uniq('elsewhere') });
    await fails(ada, ['not_found', 'invalid'], 'read', { roomId: room, messageId: other.message.id });
  });

  it('message:react toggles: ack reactions, message:reaction to the room', async () => {
    const m = await ok(ada, 'message', { roomId: room, content: uniq('react to me') });
    const id = m.message.id;
    let res = await ok(ian, 'message:react', { messageId: id, emoji: '👍' });
    assert.deepEqual(res.reactions, { '👍': ['2'] });
    let ev = await waitFor(ada, 'message:reaction', (x) => x.messageId === id);
    assert.deepEqual(ev, { roomId: room, messageId: id, reactions: { '👍': ['2'] } });
    res = await ok(ada, 'message:react', { messageId: id, emoji: '👍' });
    assert.deepEqual(res.reactions['👍'].slice().sort(), ['1', '2']);
    await waitFor(ian, 'message:reaction', (x) => x.messageId === id && x.reactions['👍']?.length === 2);
    res = await ok(ada, 'message:react', { messageId: id, emoji: '🎉' });
    assert.deepEqual(res.reactions['🎉'], ['1']);
    // toggle off
    res = await ok(ian, 'message:react', { messageId: id, emoji: '👍' });
    assert.deepEqual(res.reactions['👍'], ['1']);
    res = await ok(ada, 'message:react', { messageId: id, emoji: '👍' });
    assert.equal((res.reactions['👍'] ?? []).length, 0, 'an emoji with no users left is empty or absent');
    assert.deepEqual(res.reactions['🎉'], ['1']);
    ev = await waitFor(ian, 'message:reaction', (x) => x.messageId === id && !(x.reactions['👍']?.length));
    assert.deepEqual(ev.reactions['🎉'], ['1']);
  });

  it('message:react: non-member → forbidden, unknown message → not_found, bad emoji → invalid', async () => {
    const m = await ok(ada, 'message', { roomId: room, content: uniq('no reactions from strangers') });
    await fails(ben, ['forbidden', 'not_found'], 'message:react', { messageId: m.message.id, emoji: '👍' });
    await fails(ada, 'not_found', 'message:react', { messageId: '01900000-0000-7000-8000-000000000000', emoji: '👍' });
    await fails(ada, 'invalid', 'message:react', { messageId: m.message.id, emoji: '' });
    await fails(ada, 'invalid', 'message:react', { messageId: m.message.id, emoji: 'x'.repeat(5000) });
    await fails(ada, 'invalid', 'message:react', { messageId: m.message.id });
  });
});

describe('two users in two rooms', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('each pair sees only its own room\'s events and cannot touch the other room', async () => {
    const ada = await connect(gw, '1');
    const ian = await connect(gw, '2');
    const dan = await connect(gw, '6');
    const jill = await connect(gw, '7');
    const r1 = await directRoom(ada, '2');
    const r2 = await directRoom(dan, '7');
    assert.notEqual(r1, r2);
    await waitFor(ian, 'message', (m) => m.roomId === r1);
    await waitFor(jill, 'message', (m) => m.roomId === r2);

    // activity in r1
    const m1 = await ok(ada, 'message', { roomId: r1, content: uniq('r1 only') });
    ada.emit('typing:start', r1);
    await ok(ian, 'join', { roomId: r1 });
    await ok(ian, 'message:react', { messageId: m1.message.id, emoji: '❤️' });
    await ok(ada, 'message:edit', { messageId: m1.message.id, content: 'r1 edited' });
    ian.emit('read', { roomId: r1, messageId: m1.message.id });
    await waitFor(ian, 'message', (m) => m.id === m1.message.id);
    await waitFor(ian, 'typing', (t) => t.roomId === r1);
    await waitFor(ada, 'message:read', (x) => x.roomId === r1);

    // attempts from r2's users on r1
    await fails(dan, 'forbidden', 'message', { roomId: r1, content: 'intrude' });
    await fails(dan, 'forbidden', 'join', { roomId: r1 });
    await fails(dan, 'forbidden', 'messages:history', { roomId: r1 });
    await fails(dan, ['forbidden', 'not_found'], 'message:react', { messageId: m1.message.id, emoji: '👎' });
    await fails(dan, ['forbidden', 'not_found'], 'message:delete', { messageId: m1.message.id });
    dan.emit('typing:start', r1);
    const err = await waitFor(dan, 'chat:error', (e) => e.event === 'typing:start');
    assert.equal(err.code, 'forbidden');

    // markers through each pair's own room
    await sendAndSee(jill, r2, [dan]);
    await sendAndSee(ian, r1, [ada]);
    for (const s of [dan, jill]) {
      for (const ev of ['message', 'typing', 'user:joined', 'message:reaction', 'message:updated', 'message:read', 'message:deleted']) {
        assertNone(s, ev, (x) => (x.roomId ?? x) === r1, `in ${s.session.userId}'s stream from r1`);
      }
    }
    for (const s of [ada, ian]) {
      assertNone(s, 'message', (x) => x.roomId === r2);
      assertNone(s, 'typing', (x) => x.roomId === r2);
    }
    const h = await ok(ada, 'messages:history', { roomId: r1 });
    assert.ok(!h.messages.some((m) => m.content === 'intrude'));
    for (const s of [ada, ian, dan, jill]) s.disconnect();
  });
});

// A typist who sends stops typing: the gateway tells the room at once, not
// when the start expires (here a minute, far beyond any wait below). An
// author who was not typing causes no typing event at all.
describe('a message ends its author\'s typing', () => {
  let gw;
  before(async () => { gw = await startGateway({ args: ['--typing-timeout-ms', '60000'] }); });
  after(async () => { await gw?.stop(); });

  it('the room hears the stop after the typist\'s message; a silent author sends none', async () => {
    const ada = await connect(gw, '1');
    const ian = await connect(gw, '2');
    const r = await directRoom(ada, '2');
    await waitFor(ian, 'message', (m) => m.roomId === r);
    ada.emit('typing:start', r);
    await waitFor(ian, 'typing', (x) => x.roomId === r && x.isTyping === true);
    const sent = await sendAndSee(ada, r, [ian]);
    const stop = await waitFor(ian, 'typing', (x) => x.roomId === r);
    assert.deepEqual(stop, { userId: '1', roomId: r, isTyping: false });
    // Not typing now: further messages, by either side, stop nothing.
    await sendAndSee(ada, r, [ian]);
    await sendAndSee(ian, r, [ada]);
    await sendAndSee(ada, r, [ian]); // after the others, on the same stream
    assertNone(ian, 'typing', (x) => x.roomId === r, `after ${sent.id}`);
    assertNone(ada, 'typing', (x) => x.roomId === r);
    ada.disconnect(); ian.disconnect();
  });
});
