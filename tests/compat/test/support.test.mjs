// Support desk (issue 3, protocol §6): visitor ↔ agent, assignment, queue,
// grace period, rating, transcript over a real SMTP server.
//
// Departments in tests/fixtures/directory.json: support (5 Sam, limit 5; 41 Gina
// and 42 Hugo, limit 1), general (8 Gus, limit 3), sales (20 Sally, 21 Sid,
// limit 2), billing (30..34, limit 2 each = capacity 10). Agents count as online
// only while connected, so each scenario starts its own gateway and connects
// only the agents it is about.
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGateway, connect, ok, fails, ack, waitFor, assertNone, received, uniq, sendAndSee,
  untilConnections, drain, DEFAULT_TIMEOUT_MS,
} from '../lib/gateway.mjs';
import { startSmtp } from '../lib/smtp.mjs';

let visitorSeq = 0;
function form(queryType, extra = {}) {
  visitorSeq += 1;
  return { name: `Visitor ${visitorSeq}`, email: `visitor${visitorSeq}@example.org`, queryType, ...extra };
}

function metricSum(text, name) {
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
}

describe('support: visitor to agent, end to end', () => {
  let gw, sam;
  before(async () => {
    gw = await startGateway();
    sam = await connect(gw, '5');
  });
  after(async () => { await gw?.stop(); });

  let v, roomId;
  it('support:start from a guest is assigned to the online agent of the department', async () => {
    v = await connect(gw, null);
    const res = await ok(v, 'support:start', {
      name: 'Vera Visitor', email: 'vera@example.org', queryType: 'technical_support', message: 'My video does not play',
    });
    assert.equal(res.status, 'assigned');
    assert.deepEqual(res.agent, { id: '5', name: 'Sam Agent' });
    assert.equal(res.position, undefined);
    assert.equal(res.conversation.type, 'support');
    roomId = res.conversation.id;
    assert.ok(res.conversation.participants.some((p) => p.id === v.session.userId));

    const a = await waitFor(v, 'support:assigned', (x) => x.roomId === roomId);
    assert.deepEqual(a, { roomId, agent: { id: '5', name: 'Sam Agent' } });
    const sys = await waitFor(v, 'message', (m) => m.roomId === roomId && m.type === 'system');
    assert.match(sys.content, /Sam Agent joined the chat/);
    const conv = await waitFor(sam, 'conversation:new', (c) => c.id === roomId);
    assert.equal(conv.type, 'support');
    const hist = await ok(sam, 'messages:history', { roomId });
    const first = hist.messages.find((m) => m.content === 'My video does not play');
    assert.ok(first, 'the first message from the form is in the conversation');
    assert.equal(first.authorId, v.session.userId);
  });

  it('visitor and agent chat both ways', async () => {
    const fromSam = await ok(sam, 'message', { roomId, content: 'Which browser do you use?' });
    await waitFor(v, 'message', (m) => m.id === fromSam.message.id);
    const fromV = await ok(v, 'message', { roomId, content: 'Firefox' });
    const got = await waitFor(sam, 'message', (m) => m.id === fromV.message.id);
    assert.equal(got.authorId, v.session.userId);
    assert.equal(got.authorName, 'Vera Visitor', 'the visitor\'s name from the form');
  });

  it('double submit returns the first conversation', async () => {
    const again = await ok(v, 'support:start', { name: 'Vera Visitor', email: 'vera@example.org', queryType: 'technical_support' });
    assert.equal(again.conversation.id, roomId);
    await sendAndSee(sam, roomId, [v]);
    assertNone(sam, 'conversation:new', (c) => c.id !== roomId && c.type === 'support');
  });

  it('a reloading visitor (guestToken) keeps the support conversation', async () => {
    const { userId, guestToken } = v.session;
    v.disconnect();
    v = await connect(gw, { token: guestToken });
    assert.equal(v.session.userId, userId);
    const list = await ok(v, 'conversations:list', {});
    const c = list.conversations.find((x) => x.id === roomId);
    assert.ok(c, 'support conversation still listed');
    assert.equal(c.type, 'support');
    await sendAndSee(sam, roomId, [v]);
    await sendAndSee(v, roomId, [sam]);
    // presence is announced for signed-in users only (§1: "for a non-guest's first connection")
    assertNone(sam, 'user:online', (id) => id === userId, '(a guest\'s presence)');
  });

  it('routing: an agent may start a conversation with a visitor it is assigned to, another agent may not', async () => {
    const direct = await ok(sam, 'conversation:create', { type: 'direct', participantIds: [v.session.userId] });
    await waitFor(v, 'conversation:new', (c) => c.id === direct.conversation.id);
    const gus = await connect(gw, '8');
    await fails(gus, 'forbidden', 'conversation:create', { type: 'direct', participantIds: [v.session.userId] });
    gus.disconnect();
  });

  it('join: the assigned agent and admins may open the support room; another agent may not', async () => {
    const res = await ok(sam, 'join', { roomId });
    assert.equal(res.room.id, roomId);
    const gus = await connect(gw, '8');
    await fails(gus, 'forbidden', 'join', { roomId });
    await fails(gus, 'forbidden', 'messages:history', { roomId });
    await fails(gus, 'forbidden', 'message', { roomId, content: 'not my chat' });
    gus.disconnect();
    const admin = await connect(gw, '9');
    await ok(admin, 'join', { roomId });
    const h = await ok(admin, 'messages:history', { roomId });
    assert.ok(h.messages.some((m) => m.content === 'My video does not play'));
    admin.disconnect();
  });

  it('the agent\'s conversations:list shows its assigned chat', async () => {
    const list = await ok(sam, 'conversations:list', { type: 'support' });
    assert.ok(list.conversations.some((c) => c.id === roomId));
  });

  it('rating before the end → conflict', async () => {
    await fails(v, 'conflict', 'support:rate', { roomId, rating: 5 });
  });

  it('support:end by an outsider → forbidden; by the agent → support:ended to the room', async () => {
    const ada = await connect(gw, '1');
    await fails(ada, 'forbidden', 'support:end', { roomId });
    await fails(ada, 'not_found', 'support:end', { roomId: '01900000-0000-7000-8000-000000000000' });
    ada.disconnect();
    await ok(sam, 'support:end', { roomId });
    assert.deepEqual(await waitFor(v, 'support:ended', (x) => x.roomId === roomId), { roomId });
    await waitFor(sam, 'support:ended', (x) => x.roomId === roomId);
  });

  it('rating rules: visitor only, 1..5, once, after the end', async () => {
    await fails(sam, 'forbidden', 'support:rate', { roomId, rating: 5 });
    const other = await connect(gw, null);
    await fails(other, 'forbidden', 'support:rate', { roomId, rating: 1 });
    other.disconnect();
    for (const rating of [0, 6, 3.5, '5', null, -1]) {
      await fails(v, 'invalid', 'support:rate', { roomId, rating });
    }
    await fails(v, 'invalid', 'support:rate', { roomId });
    await fails(v, 'not_found', 'support:rate', { roomId: '01900000-0000-7000-8000-000000000000', rating: 5 });
    await ok(v, 'support:rate', { roomId, rating: 4, comment: 'Quick and friendly' });
    await fails(v, 'conflict', 'support:rate', { roomId, rating: 5 });
  });

  it('transcript without an SMTP server configured → unavailable', async () => {
    await fails(v, 'unavailable', 'support:transcript', { roomId });
  });

  it('a signed-in student may use support:start too; the visitor may end it', async () => {
    const ada = await connect(gw, '1');
    const res = await ok(ada, 'support:start', { name: 'Ada Student', email: 'ada@example.org', queryType: 'other' });
    // general has no agent online; `other` → general, then… Sam is in support,
    // not general: queued, or assigned if the gateway falls back further.
    assert.ok(['assigned', 'queued'].includes(res.status));
    await ok(ada, 'support:end', { roomId: res.conversation.id });
    await waitFor(ada, 'support:ended', (x) => x.roomId === res.conversation.id);
    ada.disconnect();
  });

  it('pre-chat form validation: invalid per field, naming the field', async () => {
    const g = await connect(gw, null);
    const good = { name: 'Valid Name', email: 'valid@example.org', queryType: 'billing' };
    for (const [field, value, re] of [
      ['name', '', /name/i], ['name', 'n'.repeat(101), /name/i], ['name', 42, /name/i], ['name', undefined, /name/i],
      ['email', 'not-an-email', /email/i], ['email', '', /email/i], ['email', 'a@', /email/i], ['email', undefined, /email/i],
      ['queryType', 'complaint', /query/i], ['queryType', undefined, /query/i],
      ['message', 12, /message/i],
    ]) {
      const payload = { ...good, [field]: value };
      if (value === undefined) delete payload[field];
      const res = await fails(g, 'invalid', 'support:start', payload);
      assert.match(res.error.message, re, `error for ${field}=${JSON.stringify(value)} names the field: ${res.error.message}`);
    }
    await fails(g, 'too_large', 'support:start', { ...good, message: 'x'.repeat(4001) });
    await fails(g, 'invalid', 'support:start', null);
    const list = await ok(g, 'conversations:list', {});
    assert.deepEqual(list.conversations, [], 'no conversation was created by invalid forms');
    g.disconnect();
  });

  it('agent:status is for support agents only', async () => {
    const ada = await connect(gw, '1');
    await fails(ada, 'forbidden', 'agent:status', { available: false });
    await fails(sam, 'invalid', 'agent:status', { available: 'yes' });
    await ok(sam, 'agent:status', { available: true, awayMessage: 'Back in 5 minutes' });
    ada.disconnect();
  });

  it('/metrics has the support gauges', async () => {
    const m = await gw.metrics();
    assert.match(m.text, /^# TYPE chat_support_queue_length gauge$/m);
    assert.match(m.text, /^# TYPE chat_agent_active_chats gauge$/m);
  });
});

describe('support: departments, fallback to general, away message', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('no agent online: queued with the department\'s away message as a system message', async () => {
    const v = await connect(gw, null);
    const res = await ok(v, 'support:start', form('billing'));
    assert.equal(res.status, 'queued');
    assert.equal(res.position, 1);
    const q = await waitFor(v, 'support:queued', (x) => x.roomId === res.conversation.id);
    assert.deepEqual(q, { roomId: res.conversation.id, position: 1 });
    const away = await waitFor(v, 'message', (m) => m.roomId === res.conversation.id && m.type === 'system');
    assert.equal(away.content, 'Billing is closed until Monday 9:00.');

    // an agent of the department coming online takes the head of the queue
    const bill = await connect(gw, '30');
    const a = await waitFor(v, 'support:assigned', (x) => x.roomId === res.conversation.id);
    assert.equal(a.agent.id, '30');
    await waitFor(bill, 'conversation:new', (c) => c.id === res.conversation.id);
    // unavailable, so that the grace period after the disconnect does not keep
    // offering Bill to the next test's billing visitor
    await ok(bill, 'agent:status', { available: false });
    bill.disconnect();
  });

  it('own department first, then general', async () => {
    const sally = await connect(gw, '20'); // sales, limit 2
    const gus = await connect(gw, '8'); // general, limit 3
    const starts = [];
    for (let i = 0; i < 3; i++) {
      const v = await connect(gw, null);
      starts.push(await ok(v, 'support:start', form('course_inquiry')));
    }
    assert.deepEqual(starts.map((s) => s.agent?.id), ['20', '20', '8'],
      'sales before general even when general has fewer chats; general once sales is full');
    const vb = await connect(gw, null);
    const b = await ok(vb, 'support:start', form('billing'));
    // billing's only agent so far (30) is unavailable (previous test): billing falls back to general
    assert.equal(b.status, 'assigned');
    assert.equal(b.agent.id, '8');
    sally.disconnect(); gus.disconnect();
  });
});

describe('support: five visitors, two agents with limit 2', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('positions, promotion when an agent becomes available and when a chat ends', async () => {
    const sally = await connect(gw, '20');
    const sid = await connect(gw, '21');
    await ok(sid, 'agent:status', { available: false });

    const vs = [];
    const acks = [];
    for (let i = 0; i < 5; i++) {
      const v = await connect(gw, null);
      vs.push(v);
      acks.push(await ok(v, 'support:start', form('course_inquiry', { message: `question ${i}` })));
    }
    const rooms = acks.map((a) => a.conversation.id);
    assert.equal(new Set(rooms).size, 5);
    assert.deepEqual(acks.map((a) => a.status), ['assigned', 'assigned', 'queued', 'queued', 'queued']);
    assert.deepEqual(acks.slice(0, 2).map((a) => a.agent.id), ['20', '20']);
    assert.deepEqual(acks.slice(2).map((a) => a.position), [1, 2, 3]);
    for (let i = 2; i < 5; i++) {
      const q = await waitFor(vs[i], 'support:queued', (x) => x.roomId === rooms[i]);
      assert.equal(q.position, i - 1);
    }
    await waitFor(sally, 'conversation:new', (c) => c.id === rooms[0]);
    await waitFor(sally, 'conversation:new', (c) => c.id === rooms[1]);
    let m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_support_queue_length'), 3);
    assert.equal(metricSum(m.text, 'chat_agent_active_chats'), 2);

    // agent console: Sally sees her chats and the department's queue; an admin sees all
    const console1 = (await ok(sally, 'conversations:list', { type: 'support' })).conversations.map((c) => c.id);
    for (const r of rooms) assert.ok(console1.includes(r), `Sally's console lists ${r}`);
    const admin = await connect(gw, '9');
    const all = (await ok(admin, 'conversations:list', { type: 'support' })).conversations.map((c) => c.id);
    for (const r of rooms) assert.ok(all.includes(r), 'the admin sees every support chat');
    admin.disconnect();

    // Sid becomes available: he takes the two at the head of the queue
    await ok(sid, 'agent:status', { available: true });
    for (const i of [2, 3]) {
      const a = await waitFor(vs[i], 'support:assigned', (x) => x.roomId === rooms[i]);
      assert.deepEqual(a.agent, { id: '21', name: 'Sid Sales' });
      await waitFor(sid, 'conversation:new', (c) => c.id === rooms[i]);
    }
    // the last visitor moves up to position 1 (possibly through 2)
    const q = await waitFor(vs[4], 'support:queued', (x) => x.roomId === rooms[4] && x.position === 1);
    assert.equal(q.position, 1);
    const positions = received(vs[4], 'support:queued').map((x) => x.position);
    assert.ok(positions.every((p) => p >= 1 && p <= 3), `positions seen: ${positions}`);

    // nobody over the limit: Sally still has exactly two; marker through her room
    await sendAndSee(vs[0], rooms[0], [sally]);
    assertNone(sally, 'conversation:new', (c) => c.type === 'support', '(Sally is at her limit)');
    assertNone(sid, 'conversation:new', (c) => c.type === 'support' && c.id === rooms[4], '(Sid is at his limit)');
    // Sally's console no longer lists Sid's chats
    const console2 = (await ok(sally, 'conversations:list', { type: 'support' })).conversations.map((c) => c.id);
    assert.ok(!console2.includes(rooms[2]) && !console2.includes(rooms[3]), 'another agent\'s chats are not in Sally\'s console');
    assert.ok(console2.includes(rooms[4]), 'the queue is');
    m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_support_queue_length'), 1);
    assert.equal(metricSum(m.text, 'chat_agent_active_chats'), 4);

    // Sally ends her first chat: she takes the last visitor at once
    await ok(sally, 'support:end', { roomId: rooms[0] });
    await waitFor(vs[0], 'support:ended', (x) => x.roomId === rooms[0]);
    const last = await waitFor(vs[4], 'support:assigned', (x) => x.roomId === rooms[4]);
    assert.equal(last.agent.id, '20');
    await waitFor(sally, 'conversation:new', (c) => c.id === rooms[4]);
    const sys = await waitFor(vs[4], 'message', (x) => x.roomId === rooms[4] && x.type === 'system' && /joined the chat/.test(x.content));
    assert.match(sys.content, /Sally Sales joined the chat/);
    m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_support_queue_length'), 0);
    assert.equal(metricSum(m.text, 'chat_agent_active_chats'), 4);
    // the assigned agent now sees the queued visitor's first message
    const h = await ok(sally, 'messages:history', { roomId: rooms[4] });
    assert.ok(h.messages.some((x) => x.content === 'question 4'));
    for (const s of [sally, sid, ...vs]) s.disconnect();
  });
});

describe('support: 50 visitors at once, capacity 10', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('exactly 10 assigned, none over its limit, 40 queued at positions 1..40', async () => {
    const agentIds = ['30', '31', '32', '33', '34'];
    const agents = {};
    for (const id of agentIds) agents[id] = await connect(gw, id);
    const visitors = await Promise.all(Array.from({ length: 50 }, () => connect(gw, null, { timeoutMs: 15000 })));
    const acks = await Promise.all(visitors.map((v, i) =>
      ok(v, 'support:start', { name: `Crowd ${i}`, email: `crowd${i}@example.org`, queryType: 'billing' })));
    const rooms = acks.map((a) => a.conversation.id);
    assert.equal(new Set(rooms).size, 50, 'one conversation per visitor');

    const assigned = acks.filter((a) => a.status === 'assigned');
    const queued = acks.filter((a) => a.status === 'queued');
    assert.equal(assigned.length, 10, 'exactly 10 assigned');
    assert.equal(queued.length, 40, 'exactly 40 queued');
    const perAgent = {};
    for (const a of assigned) perAgent[a.agent.id] = (perAgent[a.agent.id] || 0) + 1;
    assert.deepEqual(Object.keys(perAgent).sort(), agentIds);
    for (const id of agentIds) assert.equal(perAgent[id], 2, `agent ${id} has ${perAgent[id]} (limit 2)`);
    assert.deepEqual(queued.map((a) => a.position).sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i + 1),
      'positions 1..40 without gaps or repeats');

    // the agents' view agrees: each got conversation:new for exactly its two
    for (const a of assigned) {
      await waitFor(agents[a.agent.id], 'conversation:new', (c) => c.id === a.conversation.id);
    }
    // every queued visitor was told its position (the same as in its ack)
    for (let i = 0; i < 50; i++) {
      if (acks[i].status !== 'queued') continue;
      const q = await waitFor(visitors[i], 'support:queued', (x) => x.roomId === rooms[i]);
      assert.equal(q.position, acks[i].position);
    }
    // markers: each agent gets a message from one of its visitors; no third chat arrived before it
    for (const id of agentIds) {
      const i = acks.findIndex((a) => a.agent?.id === id);
      await sendAndSee(visitors[i], rooms[i], [agents[id]]);
      assertNone(agents[id], 'conversation:new', (c) => c.type === 'support', `(agent ${id} over its limit)`);
    }
    // no visitor was assigned twice or to a second agent
    for (let i = 0; i < 50; i++) {
      const as = received(visitors[i], 'support:assigned');
      assert.ok(as.length <= 1, `visitor ${i} assigned ${as.length} times`);
    }
    const m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_support_queue_length'), 40);
    assert.equal(metricSum(m.text, 'chat_agent_active_chats'), 10);
    for (const s of [...visitors, ...Object.values(agents)]) s.disconnect();
  });
});

describe('support: agent disconnects within and past the grace period', () => {
  const GRACE_SECS = 2; // short, yet long enough that a loaded CI machine reconnects within it
  let gw;
  before(async () => { gw = await startGateway({ args: ['--agent-grace-secs', String(GRACE_SECS)] }); });
  after(async () => { await gw?.stop(); });

  it('a reconnect within the grace period keeps the chat; past it the chat is requeued and the visitor told', async () => {
    let gina = await connect(gw, '41'); // support, limit 1
    const v1 = await connect(gw, null);
    const s1 = await ok(v1, 'support:start', form('technical_support'));
    assert.equal(s1.agent?.id, '41');
    // the first assignment is expected; only a second one would be wrong
    await waitFor(v1, 'support:assigned', (x) => x.roomId === s1.conversation.id);
    const hugo = await connect(gw, '42'); // support, limit 1
    const v2 = await connect(gw, null);
    const s2 = await ok(v2, 'support:start', form('technical_support'));
    assert.equal(s2.agent?.id, '42');
    await waitFor(v2, 'support:assigned', (x) => x.roomId === s2.conversation.id);
    const r1 = s1.conversation.id;
    const r2 = s2.conversation.id;
    const conns = (await gw.health()).body.connections;

    // Gina's network blips: she is back well within the grace period
    const t0 = Date.now();
    gina.disconnect();
    await untilConnections(gw, conns - 1);
    gina = await connect(gw, '41');
    const blip = Date.now() - t0;
    assert.ok(blip < GRACE_SECS * 1000 * 0.8, `reconnected after ${blip} ms: too slow to test the grace period`);

    // Hugo goes away for good, after Gina's blip
    hugo.disconnect();
    const q = await waitFor(v2, 'support:queued', (x) => x.roomId === r2, GRACE_SECS * 1000 + DEFAULT_TIMEOUT_MS);
    assert.equal(q.position, 1, 'the dropped agent\'s chat goes back to the head of the queue');
    assert.ok(Date.now() - t0 >= GRACE_SECS * 1000 - 50, 'not requeued before the grace period');

    // Gina's grace timer started before Hugo's, so had it fired v1 would know by now
    await sendAndSee(gina, r1, [v1]);
    assertNone(v1, 'support:queued', (x) => x.roomId === r1, '(Gina came back in time)');
    assertNone(v1, 'support:assigned', (x) => x.roomId === r1);
    assertNone(v1, 'support:ended', (x) => x.roomId === r1);
    const list = await ok(gina, 'conversations:list', { type: 'support' });
    assert.ok(list.conversations.some((c) => c.id === r1), 'Gina still has her chat');
    await sendAndSee(v1, r1, [gina]);

    // Gina (limit 1) ends her chat and takes the requeued visitor
    await ok(gina, 'support:end', { roomId: r1 });
    const a = await waitFor(v2, 'support:assigned', (x) => x.roomId === r2);
    assert.equal(a.agent.id, '41');
    await waitFor(gina, 'conversation:new', (c) => c.id === r2);
    await sendAndSee(gina, r2, [v2]);
    for (const s of [gina, v1, v2]) s.disconnect();
  });
});

describe('support: transcript by email (real SMTP server)', () => {
  let gw, smtp;
  before(async () => {
    smtp = await startSmtp();
    gw = await startGateway({ args: ['--smtp-url', smtp.url, '--mail-from', 'chat@seitech.test'] });
  });
  after(async () => { await gw?.stop(); await smtp?.close(); });

  it('sends the whole conversation as text and HTML, to the visitor by default, at most 3 an hour', async () => {
    const sam = await connect(gw, '5');
    const v = await connect(gw, null);
    const res = await ok(v, 'support:start', {
      name: 'Vera Visitor', email: 'vera@example.org', queryType: 'technical_support', message: 'Where is my certificate?',
    });
    const roomId = res.conversation.id;
    await waitFor(sam, 'conversation:new', (c) => c.id === roomId);
    await ok(sam, 'message', { roomId, content: 'It is in your profile: Ünïcode ✓' });
    await ok(v, 'message', { roomId, content: 'Thanks! <script>alert(1)</script> & bye' });
    await ok(sam, 'support:end', { roomId });
    await waitFor(v, 'support:ended', (x) => x.roomId === roomId);

    await ok(v, 'support:transcript', { roomId });
    const [mail] = await smtp.waitForMails(1);
    assert.deepEqual(mail.to, ['vera@example.org']);
    assert.equal(mail.from, 'chat@seitech.test');
    assert.ok(mail.subject.length > 0, 'has a subject');
    const text = mail.parts.find((p) => p.type === 'text/plain');
    const html = mail.parts.find((p) => p.type === 'text/html');
    assert.ok(text, `a text/plain part: ${mail.parts.map((p) => p.type)}`);
    assert.ok(html, `a text/html part: ${mail.parts.map((p) => p.type)}`);
    for (const needle of ['Where is my certificate?', 'It is in your profile: Ünïcode ✓', 'Sam Agent', 'Vera Visitor']) {
      assert.ok(text.text.includes(needle), `text part has "${needle}"`);
      assert.ok(html.text.includes(needle), `html part has "${needle}"`);
    }
    assert.ok(text.text.includes('Thanks! <script>alert(1)</script> & bye'));
    assert.ok(!html.text.includes('<script>alert(1)</script>'), 'visitor content is escaped in HTML');
    assert.ok(html.text.includes('&lt;script&gt;'), 'visitor content is escaped in HTML');
    const order = ['Where is my certificate?', 'It is in your profile', 'Thanks!'].map((n) => text.text.indexOf(n));
    assert.deepEqual([...order].sort((a, b) => a - b), order, 'in conversation order');

    // an explicit address: the agent may ask for a copy to its own address
    // only (issue 11: never an open relay)
    await fails(sam, 'forbidden', 'support:transcript', { roomId, email: 'sam.copy@example.org' });
    await ok(sam, 'support:transcript', { roomId, email: 'sam@example.org' });
    const mails = await smtp.waitForMails(2);
    assert.deepEqual(mails[1].to, ['sam@example.org']);
    // an outsider may not; a bad address is invalid
    const ada = await connect(gw, '1');
    await fails(ada, 'forbidden', 'support:transcript', { roomId });
    await fails(v, 'invalid', 'support:transcript', { roomId, email: 'nope' });
    await fails(v, 'not_found', 'support:transcript', { roomId: '01900000-0000-7000-8000-000000000000' });
    // an admin may; that is the third this hour, the fourth is refused
    const admin = await connect(gw, '9');
    await ok(admin, 'support:transcript', { roomId, email: 'root@example.org' });
    await smtp.waitForMails(3);
    await fails(v, 'rate_limited', 'support:transcript', { roomId });
    // marker: nothing more than three was sent — a transcript of another chat arrives as the 4th
    const v2 = await connect(gw, null);
    const r2 = await ok(v2, 'support:start', { name: 'Other Visitor', email: 'other@example.org', queryType: 'technical_support' });
    await ok(v2, 'support:end', { roomId: r2.conversation.id });
    await ok(v2, 'support:transcript', { roomId: r2.conversation.id });
    const four = await smtp.waitForMails(4);
    assert.deepEqual(four[3].to, ['other@example.org']);
    assert.equal(smtp.mails.length, 4);
    for (const s of [sam, v, ada, admin, v2]) s.disconnect();
  });
});

describe('support: agent:availability for visitors', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('a visitor is told how many agents are available, on connect and on every change', async () => {
    // Reading: §4 names agent:availability { online } without recipients; the
    // public widget needs it to show "agents online", so visitors get it when
    // they connect and whenever the number changes.
    // The payload also carries per-department counts (desk-console.test.mjs).
    const onlineOf = (x) => ({ online: x.online });
    const v = await connect(gw, null);
    assert.deepEqual(onlineOf(await waitFor(v, 'agent:availability')), { online: 0 });
    const sam = await connect(gw, '5');
    assert.deepEqual(onlineOf(await waitFor(v, 'agent:availability')), { online: 1 });
    const gus = await connect(gw, '8');
    assert.deepEqual(onlineOf(await waitFor(v, 'agent:availability')), { online: 2 });
    await ok(sam, 'agent:status', { available: false });
    assert.deepEqual(onlineOf(await waitFor(v, 'agent:availability', (x) => x.online !== 2)), { online: 1 });
    await ok(sam, 'agent:status', { available: true });
    assert.deepEqual(onlineOf(await waitFor(v, 'agent:availability', (x) => x.online !== 1)), { online: 2 });
    const v2 = await connect(gw, null);
    assert.deepEqual(onlineOf(await waitFor(v2, 'agent:availability')), { online: 2 });
    for (const s of [v, v2, sam, gus]) s.disconnect();
  });
});

describe('support: queue and assignment edges', () => {
  let gw;
  before(async () => { gw = await startGateway({ args: ['--agent-grace-secs', '2'] }); });
  after(async () => { await gw?.stop(); });

  // A race shows only sometimes; each test repeats the double submit with a
  // fresh visitor a few times so that a racy gateway fails it reliably.
  for (const [label, tabs] of [['one tab', 1], ['four tabs', 4]]) {
    it(`a concurrent double submit (${label} of one visitor) opens one conversation`, async () => {
      for (let round = 0; round < 5; round++) {
        const first = await connect(gw, null);
        const all = [first];
        for (let i = 1; i < tabs; i++) all.push(await connect(gw, { token: first.session.guestToken }));
        const f = { name: 'Double Clicker', email: 'dc@example.org', queryType: 'billing' };
        const res = await Promise.all([...all, ...all].map((t) => ok(t, 'support:start', f)));
        const ids = [...new Set(res.map((r) => r.conversation.id))];
        try {
          assert.equal(ids.length, 1, `round ${round}: ${res.length} submits opened ${ids.length} conversations`);
          const list = await ok(first, 'conversations:list', { type: 'support' });
          assert.equal(list.conversations.length, 1);
          await ok(first, 'support:end', { roomId: ids[0] });
          // once ended, the visitor may start a new chat
          const again = await ok(all[all.length - 1], 'support:start', f);
          assert.notEqual(again.conversation.id, ids[0], 'a new conversation after the end');
          await ok(first, 'support:end', { roomId: again.conversation.id });
        } finally {
          // leave no queued chat behind for the next tests
          for (const id of ids) await ack(first, 'support:end', { roomId: id });
          all.forEach((t) => t.disconnect());
        }
      }
    });
  }

  it('when a queued visitor leaves, those behind move up and are told', async () => {
    const vs = [];
    const rooms = [];
    for (let i = 0; i < 3; i++) {
      const v = await connect(gw, null);
      const r = await ok(v, 'support:start', form('course_inquiry'));
      assert.equal(r.status, 'queued');
      assert.equal(r.position, i + 1);
      vs.push(v); rooms.push(r.conversation.id);
    }
    const queuedBefore = metricSum((await gw.metrics()).text, 'chat_support_queue_length');
    await ok(vs[0], 'support:end', { roomId: rooms[0] });
    assert.equal((await waitFor(vs[1], 'support:queued', (x) => x.roomId === rooms[1] && x.position === 1)).position, 1);
    assert.equal((await waitFor(vs[2], 'support:queued', (x) => x.roomId === rooms[2] && x.position === 2)).position, 2);
    const m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_support_queue_length'), queuedBefore - 1);
    // the ended one is not handed to the next agent
    const sally = await connect(gw, '20');
    for (const i of [1, 2]) {
      const a = await waitFor(vs[i], 'support:assigned', (x) => x.roomId === rooms[i]);
      assert.equal(a.agent.id, '20');
    }
    await sendAndSee(vs[1], rooms[1], [sally]);
    assertNone(sally, 'conversation:new', (c) => c.id === rooms[0], '(an ended chat was assigned)');
    for (const i of [1, 2]) await ok(sally, 'support:end', { roomId: rooms[i] });
    await ok(sally, 'agent:status', { available: false });
    for (const s of [sally, ...vs]) s.disconnect();
  });

  it('ties go to the agent idle longest', async () => {
    const gina = await connect(gw, '41');
    const hugo = await connect(gw, '42'); // both support, limit 1, no chats
    const v1 = await connect(gw, null);
    const a1 = await ok(v1, 'support:start', form('technical_support'));
    const first = a1.agent.id;
    const other = first === '41' ? '42' : '41';
    await ok(first === '41' ? gina : hugo, 'support:end', { roomId: a1.conversation.id });
    // both have 0 open chats now; `first` was busy a moment ago, `other` has been idle since it connected
    const v2 = await connect(gw, null);
    const a2 = await ok(v2, 'support:start', form('technical_support'));
    assert.equal(a2.agent.id, other, 'the tie goes to the agent idle longest');
    await ok(other === '41' ? gina : hugo, 'support:end', { roomId: a2.conversation.id });
    for (const s of [gina, hugo, v1, v2]) s.disconnect();
  });

  it('an agent with two tabs stays online when one closes (no grace timer, no requeue)', async () => {
    const gina1 = await connect(gw, '41');
    const gina2 = await connect(gw, '41');
    const hugo = await connect(gw, '42');
    const v1 = await connect(gw, null);
    const v2 = await connect(gw, null);
    // make Hugo busy first so that v1 goes to Gina whatever the idle order
    await ok(gina1, 'agent:status', { available: false });
    const s2 = await ok(v2, 'support:start', form('technical_support'));
    assert.equal(s2.agent?.id, '42');
    await ok(gina1, 'agent:status', { available: true });
    const s1 = await ok(v1, 'support:start', form('technical_support'));
    assert.equal(s1.agent?.id, '41');
    await waitFor(v1, 'support:assigned', (x) => x.roomId === s1.conversation.id);
    await waitFor(v2, 'support:assigned', (x) => x.roomId === s2.conversation.id);
    const conns = (await gw.health()).body.connections;
    gina1.disconnect();
    await untilConnections(gw, conns - 1);
    hugo.disconnect(); // Hugo really goes: his visitor is told after the grace period
    await waitFor(v2, 'support:queued', (x) => x.roomId === s2.conversation.id, 2000 + DEFAULT_TIMEOUT_MS);
    await sendAndSee(gina2, s1.conversation.id, [v1]);
    assertNone(v1, 'support:queued', (x) => x.roomId === s1.conversation.id, '(Gina still has a tab open)');
    for (const s of [gina2, v1, v2]) s.disconnect();
  });
});

describe('support: concurrency', () => {
  let gw;
  beforeEach(async () => { gw = await startGateway(); });
  afterEach(async () => { await gw?.stop(); });

  it('visitor and agent ending the chat at once free the slot once (the agent stays within its limit)', async () => {
    const gina = await connect(gw, '41'); // limit 1
    for (let round = 0; round < 5; round++) {
      const v = await connect(gw, null);
      const s1 = await ok(v, 'support:start', form('technical_support'));
      assert.equal(s1.agent?.id, '41', `round ${round}`);
      const ends = await Promise.all([ack(v, 'support:end', { roomId: s1.conversation.id }), ack(gina, 'support:end', { roomId: s1.conversation.id })]);
      assert.ok(ends.some((e) => e.ok), `round ${round}: an end succeeded: ${JSON.stringify(ends)}`);
      v.disconnect();
    }
    // Gina has no open chat; her limit is 1: one visitor assigned, the next queued
    const a = await connect(gw, null);
    const b = await connect(gw, null);
    const ra = await ok(a, 'support:start', form('technical_support'));
    const rb = await ok(b, 'support:start', form('technical_support'));
    assert.deepEqual([ra.status, rb.status], ['assigned', 'queued'], 'the agent took more chats than its limit');
    const m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_agent_active_chats'), 1);
  });

  it('two agents coming online at once share the queue without double assignment', async () => {
    const vs = [];
    const acks = [];
    for (let i = 0; i < 6; i++) {
      const v = await connect(gw, null);
      vs.push(v);
      acks.push(await ok(v, 'support:start', form('course_inquiry')));
    }
    assert.ok(acks.every((a) => a.status === 'queued'));
    const [sally, sid] = await Promise.all([connect(gw, '20'), connect(gw, '21')]); // sales, limit 2 each
    const rooms = acks.map((a) => a.conversation.id);
    // the first four of the queue are assigned, two each; the last two move up to 1 and 2
    const assigned = [];
    for (let i = 0; i < 4; i++) assigned.push(await waitFor(vs[i], 'support:assigned', (x) => x.roomId === rooms[i]));
    const per = {};
    for (const a of assigned) per[a.agent.id] = (per[a.agent.id] || 0) + 1;
    assert.deepEqual(per, { 20: 2, 21: 2 });
    await waitFor(vs[4], 'support:queued', (x) => x.roomId === rooms[4] && x.position === 1);
    await waitFor(vs[5], 'support:queued', (x) => x.roomId === rooms[5] && x.position === 2);
    await sendAndSee(vs[0], rooms[0], [assigned[0].agent.id === '20' ? sally : sid]);
    for (let i = 0; i < 6; i++) {
      assert.ok(received(vs[i], 'support:assigned').length === 0, `visitor ${i} assigned twice`);
    }
    const m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_support_queue_length'), 2);
    assert.equal(metricSum(m.text, 'chat_agent_active_chats'), 4);
  });
});
