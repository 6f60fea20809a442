// Issue 11, items 13-15: channel membership follows the role a user has now,
// broadcast channels are read-only for non-admins, reactions are emoji only,
// capped and rate-limited (edits too), and admin-made channels serve their
// own participants.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGateway, connect, ok, fails, ack, waitFor, assertNone,
} from '../lib/gateway.mjs';

const gateways = [];
after(async () => { for (const gw of gateways) await gw.stop(); });
async function gateway(opts) {
  const gw = await startGateway(opts);
  gateways.push(gw);
  return gw;
}

test('a demoted admin gets no admin broadcast, live or through sync, and no longer lists the admin channel', async () => {
  const gw = await gateway();
  const admin = await connect(gw, '9');
  const before = await connect(gw, { token: gw.token('50', { role: 'admin', name: 'Temp Admin' }) });
  const listed = await ok(before, 'conversations:list', {});
  assert.ok(listed.conversations.some((c) => c.id === 'broadcast-admin'), 'as an admin it is in the admin channel');
  before.disconnect();

  const now = await connect(gw, { token: gw.token('50', { role: 'student', name: 'Temp Admin' }) });
  const m0 = await ok(admin, 'broadcast', { content: 'to everyone, first' });
  await waitFor(now, 'message', (m) => m.id === m0.message.id);
  const secret = await ok(admin, 'broadcast', { content: 'admins only', audience: 'admin' });
  const m2 = await ok(admin, 'broadcast', { content: 'to everyone, last' });
  await waitFor(now, 'message', (m) => m.id === m2.message.id);
  assertNone(now, 'message', (m) => m.id === secret.message.id, 'admin broadcast reached a student');

  const synced = await ok(now, 'sync', { since: m0.message.id });
  assert.ok(synced.messages.some((m) => m.id === m2.message.id));
  assert.ok(!synced.messages.some((m) => m.roomId === 'broadcast-admin'), 'sync carries no admin broadcast');
  const list = await ok(now, 'conversations:list', {});
  assert.ok(!list.conversations.some((c) => c.id === 'broadcast-admin'), 'the admin channel is not listed');
  await fails(now, ['forbidden', 'not_found'], 'messages:history', { roomId: 'broadcast-admin' });
});

test('broadcast channels are read-only for students: no typing, reactions, receipts or joins reach the audience', async () => {
  const gw = await gateway();
  const admin = await connect(gw, '9');
  const student = await connect(gw, '1');
  const other = await connect(gw, '3');
  const news = await ok(admin, 'broadcast', { content: 'Exam on Monday' });
  await waitFor(other, 'message', (m) => m.id === news.message.id);

  await fails(student, 'forbidden', 'typing', { roomId: 'broadcast-all' });
  await fails(student, 'forbidden', 'typing:start', { roomId: 'broadcast-all' });
  await fails(student, 'forbidden', 'message:react', { messageId: news.message.id, emoji: '👍' });
  await ok(student, 'join', { roomId: 'broadcast-all' });
  await ok(student, 'read', { roomId: 'broadcast-all', messageId: news.message.id });
  await ok(student, 'leave', { roomId: 'broadcast-all' });
  // The student's own tabs still learn of its read (its unread count).
  await waitFor(student, 'message:read', (r) => r.userId === '1' && r.roomId === 'broadcast-all');

  // A marker through the same room: anything the student caused came before it.
  const marker = await ok(admin, 'broadcast', { content: 'marker' });
  await waitFor(other, 'message', (m) => m.id === marker.message.id);
  for (const ev of ['typing', 'message:reaction', 'message:read', 'user:joined', 'user:left']) {
    assertNone(other, ev, (x) => x && (x.userId === '1' || x.roomId === 'broadcast-all'), `from a student in broadcast-all`);
  }
  // Admins still act there.
  await ok(admin, 'message:react', { messageId: news.message.id, emoji: '📌' });
});

test('reactions are one emoji each, capped per user and per message', async () => {
  const gw = await gateway();
  const ian = await connect(gw, '2');
  const ada = await connect(gw, '1');
  const m = await ok(ada, 'message', { recipientId: '2', content: 'react to me' });
  const messageId = m.message.id;
  for (const emoji of ['SCAM-LINK.io', 'a', '1', 'ok', '👍👍', '👍 x', '\u202e👍', '\u200b']) {
    await fails(ada, 'invalid', 'message:react', { messageId, emoji });
  }
  for (const emoji of ['👍', '❤️', '👩‍💻', '🇫🇷', '1️⃣']) await ok(ada, 'message:react', { messageId, emoji });
  await fails(ada, 'too_large', 'message:react', { messageId, emoji: '🎉' });
  // Taking one back is always allowed, and frees a slot.
  await ok(ada, 'message:react', { messageId, emoji: '👍' });
  await ok(ada, 'message:react', { messageId, emoji: '🎉' });
});

test('reactions and edits are rate-limited like messages', async () => {
  const gw = await gateway({ highRate: false, args: ['--message-burst', '5', '--message-rate-per-minute', '60'] });
  const ian = await connect(gw, '2');
  const m = await ok(ian, 'message', { recipientId: '9', content: 'edit me' });
  const edits = await Promise.all(Array.from({ length: 20 }, (_, i) => ack(ian, 'message:edit', { messageId: m.message.id, content: `v${i}` })));
  assert.ok(edits.some((r) => r.ok === false && r.error.code === 'rate_limited'), 'a burst of edits is limited');
  const reacts = await Promise.all(Array.from({ length: 20 }, () => ack(ian, 'message:react', { messageId: m.message.id, emoji: '👍' })));
  assert.ok(reacts.every((r) => r.ok === false ? r.error.code === 'rate_limited' : true));
  assert.ok(reacts.some((r) => r.ok === false), 'a burst of reaction toggles is limited');
});

test("an admin's channel other than broadcast-* serves its own participants", async () => {
  const gw = await gateway();
  const admin = await connect(gw, '9');
  const ada = await connect(gw, '1');
  const dan = await connect(gw, '4');
  const made = await ok(admin, 'conversation:create', { type: 'channel', participantIds: ['1', '3'], name: 'Course news' });
  const roomId = made.conversation.id;
  const post = await ok(admin, 'message', { roomId, content: 'Welcome' });
  await waitFor(ada, 'message', (x) => x.id === post.message.id);
  const hist = await ok(ada, 'messages:history', { roomId });
  assert.ok(hist.messages.some((x) => x.id === post.message.id), 'a participant reads the history');
  await fails(ada, 'forbidden', 'message', { roomId, content: 'students only read' });
  await fails(dan, ['forbidden', 'not_found'], 'messages:history', { roomId });
});
