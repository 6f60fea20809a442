// The gateway's Odoo bridge (issue 5) against the Odoo double of
// tests/odoo_double/ and the contract docs/odoo-gateway-api.md: identities by
// JWT and by Odoo session cookie, a support conversation landing in Odoo, the
// write-behind outbox through an outage, a rejected item parked in the
// dead-letter table, an agent reply pushed from Odoo, HMAC refusal of pushes,
// a manager reassigning a support chat (and an agent taking a queued one).
//
// Each describe starts its own double (seed tests/fixtures/odoo-seed.json:
// 1 Ada student of Python 101 and 8 Bo student, 3 Ian its instructor, 4 Oscar
// instructor of Rust 201, 5 Sam support agent, 6 Bea billing agent, 9 Root
// admin, 2 the gateway's technical user) and its own gateway in Odoo mode (no
// directory file). Waiting for the outbox is a bounded poll of /health
// (backends.odoo.backlog), never a sleep.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect, connectFails, ok, fails, waitFor, assertNone, assertMessage, drain, uniq, delay, until,
} from '../lib/gateway.mjs';
import {
  startDouble, startOdooGateway, odooToken, odooHealth, untilOdoo, untilDrained, messagesOf,
  ingestedItems, metricSum, uuid7, messageEvent, postEvents, signPush, failStoreWrites,
} from '../lib/odoo.mjs';

/** How long Odoo is down in the outage scenario (issue 5: 60 s). */
const OUTAGE_MS = 60_000;
/** Messages sent while Odoo is down (issue 5: 1,000). */
const OUTAGE_MESSAGES = 1000;
/** Backoff cap the gateway is started with, so that recovery is quick. */
const RETRY_MAX_MS = 500;
/** How slow Odoo is in the slow-Odoo test (the double's delay_ms). */
const SLOW_ODOO_MS = 4000;
/** Bound on draining the outbox once Odoo answers again. */
const DRAIN_MS = 60_000;

const as = (gw, id) => connect(gw, { token: odooToken(gw, id) });
const authorOf = (m) => (m.author_id !== null && m.author_id !== undefined ? String(m.author_id) : m.guest_id);

describe('odoo bridge: identities by JWT and by Odoo session cookie', () => {
  let double, gw;
  before(async () => {
    double = await startDouble();
    gw = await startOdooGateway(double, { retryMaxMs: RETRY_MAX_MS });
  });
  after(async () => { await gw?.stop(); await double?.stop(); });

  it('/health shows backends.odoo ok; what the gateway queues at start drains (HTTP 200)', async () => {
    const o = await untilDrained(gw, 10000);
    assert.equal(o.deadLetters, 0);
    assert.equal(o.lastError, null);
    const m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_odoo_outbox_backlog'), 0, 'chat_odoo_outbox_backlog is exported and 0');
    assert.equal(metricSum(m.text, 'chat_odoo_outbox_dead_letters'), 0, 'chat_odoo_outbox_dead_letters is exported and 0');
    assert.equal(o.status, 'ok');
    assert.equal(o.lastRefusal, null);
  });

  it('a JWT as Odoo\'s /seitech_chat/token issues it → session with its sub, name and role', async () => {
    for (const [id, name, role] of [['1', 'Ada Student', 'student'], ['5', 'Sam Agent', 'support-agent'],
      ['3', 'Ian Instructor', 'instructor'], ['9', 'Root Admin', 'admin']]) {
      const s = await as(gw, id);
      assert.equal(s.session.userId, id);
      assert.equal(s.session.name, name);
      assert.equal(s.session.role, role);
      assert.equal(s.session.guestToken, undefined);
      s.disconnect();
    }
  });

  it('a seeded Odoo session id as auth.token → that user, role and name from Odoo (get_session_info + whois)', async () => {
    const ada = await connect(gw, { token: 'test-session-ada' });
    assert.equal(ada.session.userId, '1');
    assert.equal(ada.session.name, 'Ada Student');
    assert.equal(ada.session.role, 'student');
    assert.equal(ada.session.guestToken, undefined, 'no guestToken for an Odoo user');
    const sam = await connect(gw, { token: 'test-session-sam' });
    assert.equal(sam.session.userId, '5');
    assert.equal(sam.session.role, 'support-agent');
    ada.disconnect(); sam.disconnect();
  });

  it('a session from /web/session/authenticate works too (instructor, admin: roles only whois knows)', async () => {
    for (const [login, password, id, name, role] of [
      ['ian', 'ian-test-password', '3', 'Ian Instructor', 'instructor'],
      ['admin', 'admin-test-password', '9', 'Root Admin', 'admin'],
    ]) {
      const { sessionId } = await double.authenticate(login, password);
      const s = await connect(gw, { token: sessionId });
      assert.equal(s.session.userId, id, `${login}'s session`);
      assert.equal(s.session.name, name);
      assert.equal(s.session.role, role);
      s.disconnect();
    }
  });

  it('Odoo\'s courses drive routing: session-Ada may write to her instructor Ian, not to Oscar (another course)', async () => {
    const ada = await connect(gw, { token: 'test-session-ada' });
    const { sessionId } = await double.authenticate('ian', 'ian-test-password');
    const ian = await connect(gw, { token: sessionId });
    const conv = await ok(ada, 'conversation:create', { type: 'direct', participantIds: ['3'] });
    const roomId = conv.conversation.id;
    const msg = await ok(ada, 'message', { roomId, content: uniq('to my instructor') });
    const got = await waitFor(ian, 'message', (m) => m.id === msg.message.id);
    assert.equal(got.authorId, '1');
    assert.equal(got.authorName, 'Ada Student');
    // Odoo's rule for chat channels: exactly these two people, accepted (no dead letter)
    const o = await untilDrained(gw, 20000);
    assert.equal(o.deadLetters, 0, `the direct conversation was not refused: ${JSON.stringify(o)}`);
    const rec = await double.records();
    assert.deepEqual(rec.conversations[roomId].participant_ids.map(String).sort(), ['1', '3']);
    assert.ok(rec.messages[msg.message.id], 'its message reached Odoo');
    const oscar = await as(gw, '4');
    const res = await ada.timeout(5000).emitWithAck('conversation:create', { type: 'direct', participantIds: ['4'] });
    assert.equal(res.ok, false, `a student writing to the instructor of a course she is not in: ${JSON.stringify(res)}`);
    assert.equal(res.error.code, 'forbidden');
    ada.disconnect(); ian.disconnect(); oscar.disconnect();
  });

  it('an Odoo user who never connected is known through whois: an admin writes to Bo (8)', async () => {
    const admin = await as(gw, '9');
    const conv = await ok(admin, 'conversation:create', { type: 'direct', participantIds: ['8'] });
    const bo = conv.conversation.participants.find((p) => p.id === '8');
    assert.ok(bo, `participants ${JSON.stringify(conv.conversation.participants)}`);
    assert.equal(bo.name, 'Bo Student', 'the name Odoo has');
    await ok(admin, 'message', { roomId: conv.conversation.id, content: uniq('to an offline Odoo user') });
    admin.disconnect();
  });

  it('an offline Odoo user is mailed through Odoo (notify_offline), once per conversation', async () => {
    const admin = await as(gw, '9');
    const conv = await ok(admin, 'conversation:create', { type: 'group', participantIds: ['8'], name: uniq('notify') });
    const roomId = conv.conversation.id;
    await ok(admin, 'message', { roomId, content: uniq('first, mailed') });
    await ok(admin, 'message', { roomId, content: uniq('second, within the window') });
    const deadline = Date.now() + 15_000;
    let offline = [];
    while (Date.now() < deadline) {
      offline = (await double.records()).mails.filter((m) => m.kind === 'offline' && m.conversation_id === roomId);
      if (offline.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(offline.length, 1, `offline mails for the conversation: ${JSON.stringify(offline)}`);
    assert.match(offline[0].preview, /first, mailed/);
    // marker: a message in another conversation is mailed too, and still only one for this one
    const other = await ok(admin, 'conversation:create', { type: 'group', participantIds: ['8'], name: uniq('marker') });
    await ok(admin, 'message', { roomId: other.conversation.id, content: uniq('marker') });
    const until = Date.now() + 15_000;
    let seen = false;
    while (Date.now() < until && !seen) {
      seen = (await double.records()).mails.some((m) => m.kind === 'offline' && m.conversation_id === other.conversation.id);
      if (!seen) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(seen, 'the marker conversation was mailed');
    const again = (await double.records()).mails.filter((m) => m.kind === 'offline' && m.conversation_id === roomId);
    assert.equal(again.length, 1, 'one mail per conversation per window');
    admin.disconnect();
  });

  it('an unknown session id → connect_error "Authentication failed"', async () => {
    for (const token of ['no-such-session', 'f'.repeat(40)]) {
      const err = await connectFails(gw, { token });
      assert.equal(err.message, 'Authentication failed', `token ${token}`);
    }
  });

  it('an expired session (Odoo answers code 100) → connect_error "Authentication failed"', async () => {
    const { sessionId } = await double.authenticate('admin', 'admin-test-password');
    await double.faults({ session_expired: true });
    try {
      const err = await connectFails(gw, { token: sessionId });
      assert.equal(err.message, 'Authentication failed');
    } finally {
      await double.resetFaults();
    }
  });
});

describe('odoo bridge: a support conversation end to end lands in Odoo', () => {
  let double, gw, bea, v, roomId, guestId, formMsgId;
  const sent = []; // non-system messages of the conversation, in ack order
  let fromBea, fromV, typo;
  before(async () => {
    double = await startDouble();
    gw = await startOdooGateway(double, { retryMaxMs: RETRY_MAX_MS });
    bea = await as(gw, '6'); // billing agent: only Odoo's agents() says so (no directory file)
  });
  after(async () => { await gw?.stop(); await double?.stop(); });

  it('a visitor\'s support:start (billing) is assigned to the billing agent Odoo\'s agents() lists', async () => {
    v = await connect(gw, null);
    guestId = v.session.userId;
    const res = await ok(v, 'support:start', {
      name: 'Vi Visitor', email: 'vi@example.org', queryType: 'billing', message: 'My invoice is wrong',
    });
    assert.equal(res.status, 'assigned', `support:start → ${JSON.stringify(res)}`);
    assert.deepEqual(res.agent, { id: '6', name: 'Bea Billing' });
    roomId = res.conversation.id;
    await waitFor(v, 'support:assigned', (x) => x.roomId === roomId);
    await waitFor(bea, 'conversation:new', (c) => c.id === roomId);
    const hist = await ok(bea, 'messages:history', { roomId, limit: 100 });
    const first = hist.messages.find((m) => m.content === 'My invoice is wrong');
    assert.ok(first, 'the form\'s message is in the conversation');
    formMsgId = first.id;
    sent.push(formMsgId);
  });

  it('messages both ways, a read, an edit, a reaction and a deletion', async () => {
    fromBea = (await ok(bea, 'message', { roomId, content: 'Which invoice number?' })).message;
    await waitFor(v, 'message', (m) => m.id === fromBea.id);
    sent.push(fromBea.id);
    await ok(v, 'read', { roomId, messageId: fromBea.id }); // the newest message, read before answering
    fromV = (await ok(v, 'message', { roomId, content: 'INV/2026/0042' })).message;
    await waitFor(bea, 'message', (m) => m.id === fromV.id);
    sent.push(fromV.id);
    typo = (await ok(v, 'message', { roomId, content: 'sorry, typo' })).message;
    sent.push(typo.id);
    await ok(v, 'message:delete', { messageId: typo.id });
    await ok(bea, 'message:edit', { messageId: fromBea.id, content: 'Which invoice number is it?' });
    await ok(bea, 'message:react', { messageId: fromV.id, emoji: '👍' });
    const last = (await ok(bea, 'message', { roomId, content: 'Corrected, you will get a new one.' })).message;
    await waitFor(v, 'message', (m) => m.id === last.id);
    sent.push(last.id);
  });

  it('the agent ends it, the visitor rates it', async () => {
    await ok(bea, 'support:end', { roomId });
    await waitFor(v, 'support:ended', (x) => x.roomId === roomId);
    await ok(v, 'support:rate', { roomId, rating: 5, comment: 'Fixed in two minutes' });
  });

  it('the outbox drains; Odoo has the conversation, its messages in order, the changes, the end and the rating', async () => {
    const o = await untilDrained(gw, 30000);
    assert.equal(o.deadLetters, 0, `nothing rejected: ${JSON.stringify(o)}`);
    const rec = await double.records();
    const conv = rec.conversations[roomId];
    assert.ok(conv, `conversation ${roomId} in Odoo; Odoo has ${JSON.stringify(Object.keys(rec.conversations))}`);
    assert.equal(conv.type, 'support');
    assert.equal(conv.query_type, 'billing');
    assert.equal(conv.visitor && conv.visitor.user_id, guestId, `visitor ${JSON.stringify(conv.visitor)}`);
    assert.equal(conv.visitor.name, 'Vi Visitor');
    assert.equal(conv.visitor.email, 'vi@example.org');
    assert.equal(String(conv.assigned_agent_id), '6');
    assert.ok(conv.participant_ids.map(String).includes('6'), `participants ${JSON.stringify(conv.participant_ids)}`);
    assert.equal(conv.status, 'ended');
    assert.ok(conv.conversation_ended, 'conversation_ended is set');
    assert.equal(conv.satisfaction_rating, 5);
    assert.equal(conv.rating_comment, 'Fixed in two minutes');

    const inOdoo = messagesOf(rec, roomId);
    assert.deepEqual(inOdoo.filter((m) => m.type !== 'system').map((m) => m.id), sent,
      'every message, once, in the order the gateway acked them');
    const hist = (await ok(bea, 'messages:history', { roomId, limit: 100 })).messages;
    for (const m of inOdoo.filter((x) => !x.deleted)) {
      assert.ok(hist.some((h) => h.id === m.id), `Odoo's message ${m.id} (${m.type}: ${m.content}) is one of the gateway's`);
    }
    const byId = Object.fromEntries(inOdoo.map((m) => [m.id, m]));
    assert.equal(authorOf(byId[formMsgId]), guestId);
    assert.equal(byId[formMsgId].author_name, 'Vi Visitor');
    assert.equal(byId[formMsgId].content, 'My invoice is wrong');
    assert.equal(authorOf(byId[fromV.id]), guestId);
    assert.equal(authorOf(byId[fromBea.id]), '6');
    assert.equal(byId[fromBea.id].content, 'Which invoice number is it?', 'the edit reached Odoo');
    assert.equal(byId[fromBea.id].is_edited, true);
    assert.deepEqual(byId[fromBea.id].read_by, [guestId], 'the visitor\'s read reached Odoo');
    assert.deepEqual(byId[fromV.id].reactions, { '👍': ['6'] }, 'the reaction reached Odoo');
    assert.equal(byId[typo.id].deleted, true, 'the deletion reached Odoo');
  });

  it('/metrics: backlog 0, no dead letters, successful RPCs counted', async () => {
    const m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_odoo_outbox_backlog'), 0);
    assert.equal(metricSum(m.text, 'chat_odoo_outbox_dead_letters'), 0);
    assert.equal(metricSum(m.text, 'chat_odoo_dead_letters_total'), 0, 'nothing was ever parked (every code is exported at 0)');
    assert.match(m.text, /^chat_odoo_dead_letters_total\{code="conflict"\} 0$/m);
    assert.ok(metricSum(m.text, 'chat_odoo_rpc_total') > 0, 'chat_odoo_rpc_total counts the calls');
    assert.match(m.text, /^chat_odoo_rpc_total\{[^}]*result="[^"]+"[^}]*\} \d+/m, 'chat_odoo_rpc_total has a result label');
  });

  it(`a slow Odoo (${SLOW_ODOO_MS} ms per call) does not slow acks; the outbox catches up`, async () => {
    const ada = await as(gw, '1');
    const roomId2 = (await ok(ada, 'support:start', { name: 'Ada Student', email: 'ada@example.org', queryType: 'billing' })).conversation.id;
    await untilDrained(gw, 20000);
    await double.faults({ delay_ms: SLOW_ODOO_MS });
    try {
      const t = Date.now();
      const m = (await ok(ada, 'message', { roomId: roomId2, content: uniq('while Odoo is slow') })).message;
      const took = Date.now() - t;
      assert.ok(took < SLOW_ODOO_MS / 2, `the ack came after ${took} ms: it waited for Odoo`);
      await untilOdoo(gw, (o) => o.backlog === 0, 'backlog 0 while Odoo is slow', SLOW_ODOO_MS * 4);
      const rec = await double.records();
      assert.ok(rec.messages[m.id], 'the message reached the slow Odoo');
    } finally {
      await double.resetFaults();
    }
    ada.disconnect();
  });
});

describe(`odoo bridge: the outbox through a ${OUTAGE_MS / 1000} s outage (${OUTAGE_MESSAGES} messages)`, () => {
  let double, gw, admin, others, downAt;
  const rooms = [];
  const sentBy = new Map(); // roomId → [{ id, content }] in ack order
  let backlogAfterSend = 0;
  before(async () => {
    double = await startDouble();
    gw = await startOdooGateway(double, { retryMaxMs: RETRY_MAX_MS });
    admin = await as(gw, '9'); // an admin may write to anyone
    // the other participants are online (whois of users who never connected
    // is the identities suite's business, not this one's)
    others = await Promise.all(['1', '3', '8'].map((id) => as(gw, id)));
  });
  after(async () => { await double?.resetFaults().catch(() => {}); await gw?.stop(); await double?.stop(); });

  it('three conversations reach Odoo before the outage', async () => {
    for (const other of ['1', '3', '8']) {
      const c = await ok(admin, 'conversation:create', { type: 'direct', participantIds: [other] });
      rooms.push(c.conversation.id);
    }
    await untilDrained(gw, 20000);
    const rec = await double.records();
    for (const r of rooms) assert.ok(rec.conversations[r], `conversation ${r} in Odoo`);
  });

  it(`Odoo goes down: /health says "down", ${OUTAGE_MESSAGES} messages are all acked meanwhile, the backlog grows`, async () => {
    await double.faults({ down: true });
    downAt = Date.now();
    const g = await ok(admin, 'conversation:create', { type: 'group', participantIds: ['1', '3', '8'], name: 'Created during the outage' });
    rooms.push(g.conversation.id);
    const o = await untilOdoo(gw, (x) => x.status === 'down', 'status "down"', 15000);
    assert.equal(typeof o.lastError, 'string', `lastError names the failure: ${JSON.stringify(o)}`);
    assert.ok(o.lastError.length > 0);
    const h = await gw.health();
    assert.equal(h.status, 200, '/health stays 200 while Odoo is down (only the store makes it 503)');

    for (const r of rooms) sentBy.set(r, []);
    let slowest = 0;
    const sendRound = async (perRoom, round) => Promise.all(rooms.map(async (r) => {
      for (let i = 0; i < perRoom; i++) {
        const content = `outage ${round} ${r.slice(-6)} #${sentBy.get(r).length}`;
        const t = Date.now();
        const res = await ok(admin, 'message', { roomId: r, content });
        slowest = Math.max(slowest, Date.now() - t);
        sentBy.get(r).push({ id: res.message.id, content });
      }
    }));
    const firstRound = 100 / rooms.length;
    await sendRound(firstRound, 'a');
    const b1 = (await odooHealth(gw)).backlog;
    await sendRound((OUTAGE_MESSAGES - 100) / rooms.length, 'b');
    const afterSend = await odooHealth(gw);
    backlogAfterSend = afterSend.backlog;
    const total = [...sentBy.values()].reduce((s, l) => s + l.length, 0);
    assert.equal(total, OUTAGE_MESSAGES);
    assert.ok(slowest < 3000, `acks do not wait for Odoo: slowest ack ${slowest} ms`);
    assert.equal(afterSend.status, 'down');
    assert.ok(b1 >= 100, `backlog after 100 messages ≥ 100: ${b1}`);
    assert.ok(afterSend.backlog >= b1 + OUTAGE_MESSAGES - 100, `backlog grows: ${b1} → ${afterSend.backlog}`);
    assert.ok(afterSend.backlog >= OUTAGE_MESSAGES, `backlog ≥ ${OUTAGE_MESSAGES}: ${afterSend.backlog}`);
    // a gauge may be sampled: bounded poll
    await until(async () => metricSum((await gw.metrics()).text, 'chat_odoo_outbox_backlog') >= OUTAGE_MESSAGES,
      `chat_odoo_outbox_backlog ≥ ${OUTAGE_MESSAGES}`, 5000, 100);
  });

  it('Odoo stays down for the rest of the outage; /health keeps saying "down" and the backlog never shrinks', async () => {
    let last = backlogAfterSend;
    let polls = 0;
    // The fault lasts OUTAGE_MS from the switch; this loop is the outage itself,
    // checking the gateway once a second meanwhile (bounded by the deadline).
    while (Date.now() < downAt + OUTAGE_MS && polls < OUTAGE_MS / 1000 + 5) {
      const o = await odooHealth(gw);
      assert.equal(o.status, 'down', `status at +${Date.now() - downAt} ms: ${JSON.stringify(o)}`);
      assert.ok(o.backlog >= last, `backlog never shrinks while Odoo is down: ${last} → ${o.backlog}`);
      last = o.backlog;
      polls += 1;
      await delay(Math.min(1000, Math.max(0, downAt + OUTAGE_MS - Date.now())));
    }
    const rec = await double.records();
    for (const r of rooms) {
      assert.equal(messagesOf(rec, r).filter((m) => m.type !== 'system').length, 0, 'nothing reached Odoo while it was down');
    }
  });

  it(`Odoo is back: all ${OUTAGE_MESSAGES} arrive exactly once, in order per conversation`, async (t) => {
    const back = Date.now();
    await double.resetFaults();
    const o = await untilDrained(gw, DRAIN_MS);
    t.diagnostic(`outbox drained ${Date.now() - back} ms after Odoo came back`);
    assert.equal(o.deadLetters, 0, `nothing rejected: ${JSON.stringify(o)}`);
    const rec = await double.records();
    assert.ok(rec.conversations[rooms[3]], 'the conversation created during the outage reached Odoo');
    assert.equal(rec.conversations[rooms[3]].type, 'group');
    let arrived = 0;
    for (const r of rooms) {
      const got = messagesOf(rec, r).filter((m) => m.type !== 'system');
      arrived += got.length;
      const want = sentBy.get(r);
      assert.deepEqual(got.map((m) => m.id), want.map((x) => x.id),
        `conversation ${r}: every acked message once, in ack order (got ${got.length}, want ${want.length})`);
      assert.deepEqual(got.map((m) => m.content), want.map((x) => x.content), `conversation ${r}: contents`);
      assert.ok(got.every((m) => String(m.author_id) === '9'), 'authored by the admin');
    }
    assert.equal(arrived, OUTAGE_MESSAGES);
    // Exactly once on the wire too: no item was sent again after Odoo had taken it.
    const items = ingestedItems(rec);
    const applied = Object.keys(rec.ops).length;
    assert.equal(items, applied, `ingest items sent (${items}) = items applied (${applied}): no resend of delivered items`);
    const m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_odoo_outbox_backlog'), 0);
    assert.ok(metricSum(m.text, 'chat_odoo_rpc_total', /result="(?!ok)/) > 0, 'failed RPCs during the outage are counted');
  });
});

describe('odoo bridge: an item Odoo rejects is parked, the rest still arrive', () => {
  let double, gw, ada, ian, roomId, poison;
  const delivered = [];
  before(async () => {
    double = await startDouble();
    gw = await startOdooGateway(double, { retryMaxMs: RETRY_MAX_MS });
    ada = await as(gw, '1');
    ian = await as(gw, '3');
    roomId = (await ok(ada, 'conversation:create', { type: 'direct', participantIds: ['3'] })).conversation.id;
    delivered.push((await ok(ada, 'message', { roomId, content: 'before the poison' })).message.id);
    await untilDrained(gw, 20000);
  });
  after(async () => { await double?.resetFaults().catch(() => {}); await gw?.stop(); await double?.stop(); });

  it('the rejected message is a dead letter; the messages after it arrive in order', async () => {
    // Odoo is unreachable while the poison and its followers are acked, so that
    // the rejection can be armed for the poison's id before the gateway sends it.
    await double.faults({ down: true });
    poison = (await ok(ada, 'message', { roomId, content: 'poison' })).message;
    for (let i = 1; i <= 3; i++) delivered.push((await ok(ada, 'message', { roomId, content: `after the poison ${i}` })).message.id);
    await double.faults({ down: false, reject_uuids: { [poison.id]: 'rejected by an ORM constraint (test)' } });
    const o = await untilOdoo(gw, (x) => x.backlog === 0 && x.deadLetters >= 1, 'backlog 0 and a dead letter', 30000);
    assert.equal(o.deadLetters, 1, `exactly the poison is parked: ${JSON.stringify(o)}`);
    assert.equal(o.status, 'degraded', 'Odoo answers, but a change is missing from it');
    assert.deepEqual(o.lastRefusal, { code: 'invalid', reason: 'rejected by an ORM constraint (test)' },
      'the last refusal\'s code and reason are in /health');
    const h = await gw.health();
    assert.equal(h.status, 200, 'dead letters do not take the gateway out of rotation');
    const rec = await double.records();
    const ids = messagesOf(rec, roomId).filter((m) => m.type !== 'system').map((m) => m.id);
    assert.deepEqual(ids, delivered, 'the messages after the poison arrived, in order; the poison did not');
    const m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_odoo_outbox_dead_letters'), 1, 'chat_odoo_outbox_dead_letters');
    assert.equal(metricSum(m.text, 'chat_odoo_dead_letters_total', /code="invalid"/), 1, 'chat_odoo_dead_letters_total{code}');
    const rows = (await double.records()).dead_letters;
    assert.equal(rows[poison.id]?.state, 'parked', `Odoo's back office lists it: ${JSON.stringify(rows)}`);
  });

  it('the parked item is never retried: the next message goes alone, the dead letter stays', async () => {
    const before = ingestedItems(await double.records());
    const next = (await ok(ada, 'message', { roomId, content: 'after the dead letter' })).message;
    const o = await untilDrained(gw, 20000);
    assert.equal(o.deadLetters, 1);
    const rec = await double.records();
    assert.equal(ingestedItems(rec) - before, 1, 'one item sent since: the new message, not the poison again');
    assert.equal(messagesOf(rec, roomId).at(-1).id, next.id);
    assert.ok(!rec.messages[poison.id], 'the poison is not in Odoo');
    // and the gateway still has it: it was acked, only Odoo refused it
    const hist = (await ok(ada, 'messages:history', { roomId, limit: 100 })).messages;
    assert.ok(hist.some((h) => h.id === poison.id), 'the poison stays in the gateway\'s history');
  });

  it('once the cause is fixed, Retry in the back office re-sends it: it lands in Odoo, /health is ok again', async () => {
    await double.faults({ reject_uuids: {} });
    const push = await double.retryDeadLetters({ uuids: [poison.id], gateway_url: gw.url });
    assert.equal(push.state, 'sent', `the retry push was accepted: ${JSON.stringify(push)}`);
    const o = await untilOdoo(gw, (x) => x.deadLetters === 0 && x.backlog === 0, 'no dead letter left', 20000);
    assert.equal(o.status, 'ok');
    assert.equal(o.lastRefusal, null);
    const rec = await double.records();
    assert.equal(rec.messages[poison.id]?.content, 'poison', 'the retried item is in Odoo now');
    assert.equal(rec.dead_letters[poison.id].state, 'resolved');
    const m = await gw.metrics();
    assert.equal(metricSum(m.text, 'chat_odoo_outbox_dead_letters'), 0);
    assert.equal(metricSum(m.text, 'chat_odoo_dead_letters_total'), 1, 'the counter counts parkings, it never goes down');
  });

  it('a retry push with a malformed uuid list changes nothing (2xx, ignored)', async () => {
    const res = await postEvents(gw, { secret: double.pushSecret, events: [
      { id: uuid7(), type: 'retry', occurred_at: new Date().toISOString(), data: { uuids: 'all' } }] });
    assert.ok(res.status >= 200 && res.status < 300, `${res.status} ${res.text}`);
    const o = await odooHealth(gw);
    assert.equal(o.deadLetters, 0);
    assert.equal(o.backlog, 0);
  });
});

describe('odoo bridge: pushes from Odoo (agent replies, HMAC refusal)', () => {
  let double, gw, sam, v, roomId, replyId, replyPush, itemsBeforeReply;
  before(async () => {
    double = await startDouble();
    gw = await startOdooGateway(double, { retryMaxMs: RETRY_MAX_MS });
    sam = await as(gw, '5');
    v = await connect(gw, null);
    const res = await ok(v, 'support:start', {
      name: 'Pia Visitor', email: 'pia@example.org', queryType: 'technical_support', message: 'The video does not play',
    });
    roomId = res.conversation.id;
    await waitFor(v, 'support:assigned', (x) => x.roomId === roomId && x.agent.id === '5');
    // the back office can only answer a conversation Odoo has
    await untilDrained(gw, 20000);
    const rec = await double.records();
    assert.ok(rec.conversations[roomId], 'the support conversation reached Odoo');
  });
  after(async () => { await gw?.stop(); await double?.stop(); });

  it('an agent reply written in Odoo reaches the visitor\'s socket (and the agent\'s) as a message event', async () => {
    itemsBeforeReply = ingestedItems(await double.records());
    const content = uniq('answered from the back office');
    replyPush = await double.agentReply({ conversation_id: roomId, author_id: 5, content, gateway_url: gw.url });
    assert.equal(replyPush.state, 'sent', `the gateway answered the signed push with ${replyPush.status} ${replyPush.response}`);
    assert.ok(replyPush.status >= 200 && replyPush.status < 300);
    replyId = replyPush.events[0].data.message.id;
    const got = await waitFor(v, 'message', (m) => m.id === replyId);
    assertMessage(got, { id: replyId, roomId, authorId: '5', authorName: 'Sam Agent', content, type: 'text' });
    await waitFor(sam, 'message', (m) => m.id === replyId);
  });

  it('the reply is stored: messages:history has it', async () => {
    const hist = (await ok(v, 'messages:history', { roomId, limit: 100 })).messages;
    const found = hist.filter((m) => m.id === replyId);
    assert.equal(found.length, 1, `the reply once in history: ${JSON.stringify(hist.map((m) => m.id))}`);
    assert.equal(found[0].authorId, '5');
  });

  it('the reply is not sent back to Odoo as a new message', async () => {
    const marker = (await ok(v, 'message', { roomId, content: uniq('visitor after the reply') })).message;
    await waitFor(sam, 'message', (m) => m.id === marker.id);
    await untilDrained(gw, 20000);
    const rec = await double.records();
    assert.equal(ingestedItems(rec) - itemsBeforeReply, 1, 'only the visitor\'s message was ingested since the push');
    const msgs = messagesOf(rec, roomId);
    assert.equal(msgs.filter((m) => m.id === replyId).length, 1);
    assert.equal(rec.messages[replyId].origin, 'odoo');
    assert.equal(msgs.at(-1).id, marker.id, 'the visitor\'s message arrived after the reply');
  });

  it('a push sent again with the same event id (its 2xx was lost) is not delivered twice', async () => {
    const again = await double.push({ events: replyPush.events, gateway_url: gw.url });
    assert.ok(again.status >= 200 && again.status < 300, `repeat answered ${again.status} ${again.response}`);
    const marker = messageEvent(roomId, { content: uniq('marker after the repeat') });
    const res = await postEvents(gw, { events: [marker], secret: double.pushSecret });
    assert.equal(res.status, 200, `valid push → ${res.status} ${res.text}`);
    await waitFor(v, 'message', (m) => m.id === marker.data.message.id);
    assertNone(v, 'message', (m) => m.id === replyId, '(the repeated push delivered again)');
    const hist = (await ok(v, 'messages:history', { roomId, limit: 100 })).messages;
    assert.equal(hist.filter((m) => m.id === replyId).length, 1, 'stored once');
  });

  it('an attachment written in Odoo keeps Odoo\'s link (history and the list do not re-sign it); a non-web link is refused', async () => {
    const odooFile = { id: 'odoo-att-77', name: 'syllabus.pdf', mimeType: 'application/pdf', size: 1234, url: 'https://odoo.example.org/web/content/77?download=true' };
    const good = messageEvent(roomId, { content: uniq('file from the back office'), attachments: [odooFile] });
    const bad = messageEvent(roomId, { content: uniq('sneaky link'), attachments: [{ ...odooFile, id: 'odoo-att-78', url: 'javascript:alert(1)' }] });
    const res = await postEvents(gw, { events: [bad, good], secret: double.pushSecret });
    assert.equal(res.status, 200, `valid push → ${res.status} ${res.text}`);
    const got = await waitFor(v, 'message', (m) => m.id === good.data.message.id);
    assert.deepEqual(got.attachments.map((a) => a.url), [odooFile.url]);
    const hist = (await ok(v, 'messages:history', { roomId, limit: 100 })).messages;
    assert.deepEqual(hist.find((m) => m.id === good.data.message.id).attachments.map((a) => a.url), [odooFile.url]);
    assert.equal(hist.filter((m) => m.id === bad.data.message.id).length, 0, 'the javascript: link was not stored');
    const list = (await ok(v, 'conversations:list', {})).conversations;
    assert.deepEqual(list.find((c) => c.id === roomId).lastMessage.attachments.map((a) => a.url), [odooFile.url]);
  });

  it('forged, missing, malformed or stale signatures → 401; nothing stored, nothing delivered', async () => {
    const secret = double.pushSecret;
    const now = Math.floor(Date.now() / 1000);
    const refused = [];
    const ev = (what) => {
      const e = messageEvent(roomId, { content: `forged: ${what}` });
      refused.push(e.data.message.id);
      return e;
    };
    const cases = [];
    // the double signs with another secret (forge: true)
    const forged = await double.agentReply({ conversation_id: roomId, author_id: 5, content: 'forged by the double', gateway_url: gw.url, forge: true });
    refused.push(forged.events[0].data.message.id);
    cases.push(['double\'s forged signature', forged.status]);
    cases.push(['wrong secret', (await postEvents(gw, { events: [ev('wrong secret')], secret: secret + 'x' })).status]);
    cases.push(['no headers at all', (await postEvents(gw, { events: [ev('no headers')] })).status]);
    cases.push(['no signature header', (await postEvents(gw, { events: [ev('no signature')], secret, headers: { 'X-Seitech-Signature': null } })).status]);
    cases.push(['no timestamp header', (await postEvents(gw, { events: [ev('no timestamp')], secret, headers: { 'X-Seitech-Timestamp': null } })).status]);
    {
      const raw = JSON.stringify({ version: 1, events: [ev('no sha256= prefix')] });
      cases.push(['signature without sha256=', (await postEvents(gw, { raw, secret, timestamp: now, headers: { 'X-Seitech-Signature': signPush(secret, now, raw).slice(7) } })).status]);
    }
    cases.push(['malformed signature', (await postEvents(gw, { events: [ev('malformed')], secret, headers: { 'X-Seitech-Signature': 'sha256=not-hex' } })).status]);
    cases.push(['malformed timestamp', (await postEvents(gw, { events: [ev('malformed ts')], secret, headers: { 'X-Seitech-Timestamp': 'yesterday' } })).status]);
    cases.push(['stale timestamp (-400 s), correctly signed', (await postEvents(gw, { events: [ev('stale')], secret, timestamp: now - 400 })).status]);
    cases.push(['future timestamp (+400 s), correctly signed', (await postEvents(gw, { events: [ev('future')], secret, timestamp: now + 400 })).status]);
    {
      // a captured signature replayed with a fresh timestamp
      const raw = JSON.stringify({ version: 1, events: [ev('replayed ts')] });
      cases.push(['signature of another timestamp', (await postEvents(gw, { raw, secret, timestamp: now, headers: { 'X-Seitech-Signature': signPush(secret, now - 10, raw) } })).status]);
    }
    {
      // the body changed after signing
      const signed = JSON.stringify({ version: 1, events: [messageEvent(roomId, { content: 'harmless' })] });
      const raw = JSON.stringify({ version: 1, events: [ev('tampered body')] });
      cases.push(['tampered body', (await postEvents(gw, { raw, secret, timestamp: now, headers: { 'X-Seitech-Signature': signPush(secret, now, signed) } })).status]);
    }
    const wrong = cases.filter(([, status]) => status !== 401);
    assert.deepEqual(wrong, [], `every forged push is refused with 401: ${JSON.stringify(cases)}`);

    const marker = messageEvent(roomId, { content: uniq('valid marker after the forgeries') });
    const res = await postEvents(gw, { events: [marker], secret });
    assert.equal(res.status, 200, `valid push → ${res.status} ${res.text}`);
    await waitFor(v, 'message', (m) => m.id === marker.data.message.id);
    await waitFor(sam, 'message', (m) => m.id === marker.data.message.id);
    assertNone(v, 'message', (m) => refused.includes(m.id) || /forged/.test(m.content), '(a refused push was delivered)');
    assertNone(sam, 'message', (m) => refused.includes(m.id) || /forged/.test(m.content), '(a refused push was delivered)');
    const hist = (await ok(v, 'messages:history', { roomId, limit: 100 })).messages;
    assert.deepEqual(hist.filter((m) => refused.includes(m.id)), [], 'no refused push was stored');
  });

  it('the MAC is over the raw bytes: non-canonical JSON is accepted; an unknown event type is ignored with 2xx', async () => {
    const msg = messageEvent(roomId, { content: uniq('pretty-printed push') });
    const raw = JSON.stringify({ version: 1, events: [{ id: uuid7(), type: 'future-kind', occurred_at: new Date().toISOString(), data: {} }, msg] }, null, 2);
    const res = await postEvents(gw, { raw, secret: double.pushSecret });
    assert.ok(res.status >= 200 && res.status < 300, `pretty-printed, correctly signed push → ${res.status} ${res.text}`);
    await waitFor(v, 'message', (m) => m.id === msg.data.message.id);
  });

  it('a push the store cannot apply answers 503 and stops there; Odoo keeps it and its resend applies it, in order', async () => {
    // The gateway's database refuses these messages (a trigger in the real store).
    const fault = failStoreWrites(gw, 'store fault');
    let cleared = false;
    try {
      const first = messageEvent(roomId, { content: uniq('store fault in the back office') });
      const second = messageEvent(roomId, { content: uniq('written after the refused one') });
      const res = await postEvents(gw, { events: [first, second], secret: double.pushSecret });
      assert.equal(res.status, 503, `a store failure is retryable: ${res.status} ${res.text}`);
      assert.equal(JSON.parse(res.text).event, first.id, 'the answer names the event that was not applied');
      // Odoo's side (the double sends as the addon does): a 503 leaves the push pending for the cron.
      const reply = await double.agentReply({ conversation_id: roomId, author_id: 5, content: uniq('store fault in a reply'), gateway_url: gw.url });
      assert.equal(reply.status, 503, `${reply.status} ${reply.response}`);
      assert.equal(reply.state, 'pending', 'Odoo sends it again later');

      const marker = messageEvent(roomId, { content: uniq('marker while the store refuses') });
      assert.equal((await postEvents(gw, { events: [marker], secret: double.pushSecret })).status, 200);
      await waitFor(v, 'message', (m) => m.id === marker.data.message.id);
      const notYet = [first, second, reply.events[0]].map((e) => e.data.message.id);
      assertNone(v, 'message', (m) => notYet.includes(m.id), '(an event after the failed one was applied, or a failed one delivered)');

      fault.clear();
      cleared = true;
      const again = await postEvents(gw, { events: [first, second], secret: double.pushSecret });
      assert.equal(again.status, 200, `the resend → ${again.status} ${again.text}`);
      const got = [await waitFor(v, 'message', (m) => notYet.includes(m.id)), await waitFor(v, 'message', (m) => notYet.includes(m.id))];
      assert.deepEqual(got.map((m) => m.id), [first.data.message.id, second.data.message.id], 'applied in their order');
      const resent = await double.push({ events: reply.events, gateway_url: gw.url });
      assert.ok(resent.status >= 200 && resent.status < 300, `${resent.status} ${resent.response}`);
      await waitFor(v, 'message', (m) => m.id === reply.events[0].data.message.id);
      const hist = (await ok(v, 'messages:history', { roomId, limit: 100 })).messages;
      for (const id of notYet) assert.equal(hist.filter((m) => m.id === id).length, 1, `${id} stored once`);
    } finally {
      if (!cleared) fault.clear();
    }
  });

  it('a push that is not the envelope answers 400 (resending it cannot help); a malformed event in a good one is listed as ignored (2xx)', async () => {
    const secret = double.pushSecret;
    const cases = [
      ['not JSON', 'events: all of them'],
      ['events is not a list', JSON.stringify({ version: 1, events: 'all' })],
      ['an event without an id', JSON.stringify({ version: 1, events: [{ type: 'message', data: {} }] })],
    ];
    for (const [what, raw] of cases) {
      const res = await postEvents(gw, { raw, secret });
      assert.equal(res.status, 400, `${what} → ${res.status} ${res.text}`);
    }
    const bad = messageEvent(roomId, { content: uniq('no uuid'), id: 'not-a-uuid' });
    const res = await postEvents(gw, { events: [bad], secret });
    assert.equal(res.status, 200, `${res.status} ${res.text}`);
    assert.deepEqual(JSON.parse(res.text).ignored.map((x) => x.id), [bad.id]);
  });

  it('a manager ends the chat in Odoo: the conversation push gives support:ended to the room', async () => {
    const ev = { id: uuid7(), type: 'conversation', occurred_at: new Date().toISOString(),
      data: { conversation_id: roomId, status: 'ended', assigned_agent_id: '5' } };
    const active = async () => metricSum((await gw.metrics()).text, 'chat_agent_active_chats');
    const activeBefore = await active();
    assert.ok(activeBefore >= 1, `the chat counts as active before the push: ${activeBefore}`);
    const res = await postEvents(gw, { events: [ev], secret: double.pushSecret });
    assert.ok(res.status >= 200 && res.status < 300, `conversation push → ${res.status} ${res.text}`);
    assert.deepEqual(await waitFor(v, 'support:ended', (x) => x.roomId === roomId), { roomId });
    await waitFor(sam, 'support:ended', (x) => x.roomId === roomId);
    // the desk's gauges follow an end decided in Odoo as they follow support:end
    // (a gauge is set just after the emit: bounded poll)
    await until(async () => (await active()) === activeBefore - 1, `chat_agent_active_chats ${activeBefore} → ${activeBefore - 1}`, 5000, 100);
    // ended for the gateway: the visitor may rate it now
    await ok(v, 'support:rate', { roomId, rating: 4 });
  });
});

describe('odoo bridge: a manager reassigns a support chat in the back office', () => {
  // Visitor V's technical_support chat goes to Sam (5, support); a manager
  // gives it to Bea (6, billing) in Odoo. The double updates its record as
  // the addon's discuss.channel.write does and pushes the same signed
  // `conversation` event (odoo_addon/seitech_chat/lib/pushes.py).
  let double, gw, sam, bea, admin, v, roomId, pushed;
  const conversationEvent = (data) => ({ id: uuid7(), type: 'conversation', occurred_at: new Date().toISOString(), data });
  const systemLines = async () => (await ok(v, 'messages:history', { roomId, limit: 100 })).messages
    .filter((m) => m.type === 'system').map((m) => m.content);
  before(async () => {
    double = await startDouble();
    gw = await startOdooGateway(double, { retryMaxMs: RETRY_MAX_MS });
    sam = await as(gw, '5');
    bea = await as(gw, '6');
    admin = await as(gw, '9');
    v = await connect(gw, null);
    roomId = (await ok(v, 'support:start', {
      name: 'Rea Visitor', email: 'rea@example.org', queryType: 'technical_support', message: 'The quiz does not load',
    })).conversation.id;
    await waitFor(v, 'support:assigned', (x) => x.roomId === roomId && x.agent.id === '5');
    await waitFor(sam, 'conversation:new', (c) => c.id === roomId);
    await waitFor(sam, 'message', (m) => m.roomId === roomId && m.content === 'Sam Agent joined the chat');
    drain(sam, 'message'); // from here on, Sam must get nothing more of this room
    await untilDrained(gw, 20000);
    assert.equal(String((await double.records()).conversations[roomId].assigned_agent_id), '5');
  });
  after(async () => { await gw?.stop(); await double?.stop(); });

  it('the push hands the chat to Bea: support:assigned to the room, conversation:new to Bea, "Bea Billing joined the chat"', async () => {
    pushed = await double.reassign({ conversation_id: roomId, agent_id: 6, gateway_url: gw.url });
    assert.equal(pushed.state, 'sent', `the gateway answered ${pushed.status} ${pushed.response}`);
    assert.deepEqual(pushed.events[0].data, { conversation_id: roomId, status: 'active', assigned_agent_id: '6' },
      'what the addon sends on a reassignment');
    assert.deepEqual(await waitFor(v, 'support:assigned', (x) => x.roomId === roomId && x.agent.id === '6'),
      { roomId, agent: { id: '6', name: 'Bea Billing' } });
    const conv = await waitFor(bea, 'conversation:new', (c) => c.id === roomId);
    assert.equal(conv.type, 'support');
    assert.equal(conv.status, 'active');
    assert.equal(conv.support.agentId, '6');
    const ids = conv.participants.map((p) => p.id);
    assert.ok(ids.includes('6') && !ids.includes('5'), `participants ${JSON.stringify(ids)}`);
    const joined = await waitFor(v, 'message', (m) => m.type === 'system' && m.content === 'Bea Billing joined the chat');
    assert.equal(joined.roomId, roomId);
    await waitFor(bea, 'message', (m) => m.id === joined.id);
  });

  it('Sam hears it and is told the chat is no longer his (conversation:updated); he is out of the room', async () => {
    await waitFor(sam, 'support:assigned', (x) => x.roomId === roomId && x.agent.id === '6');
    const updated = await waitFor(sam, 'conversation:updated', (c) => c.id === roomId);
    assert.equal(updated.support.agentId, '6');
    assert.ok(!updated.participants.some((p) => p.id === '5'), 'Sam is no participant any more');
    // The visitor writes: Bea gets it; Sam's sockets left the room. Marker for
    // Sam: a direct message from the admin, sent after the visitor's.
    const fromV = await ok(v, 'message', { roomId, content: uniq('for my new agent') });
    await waitFor(bea, 'message', (m) => m.id === fromV.message.id);
    const marker = await ok(admin, 'message', { recipientId: '5', content: uniq('marker for Sam') });
    await waitFor(sam, 'message', (m) => m.id === marker.message.id);
    assertNone(sam, 'message', (m) => m.roomId === roomId, '(Sam still gets the room)');
    await fails(sam, 'forbidden', 'message', { roomId, content: 'am I still here?' });
    const samList = (await ok(sam, 'conversations:list', { type: 'support' })).conversations;
    assert.ok(!samList.some((c) => c.id === roomId), 'not in Sam\'s list');
    const beaList = (await ok(bea, 'conversations:list', { type: 'support' })).conversations;
    assert.equal(beaList.find((c) => c.id === roomId)?.support.agentId, '6');
    const answer = await ok(bea, 'message', { roomId, content: uniq('Bea here') });
    await waitFor(v, 'message', (m) => m.id === answer.message.id);
  });

  it('Odoo gets the reassignment back through the outbox, and nothing is pushed back again', async () => {
    await untilDrained(gw, 20000);
    const rec = await double.records();
    const conv = rec.conversations[roomId];
    assert.equal(String(conv.assigned_agent_id), '6');
    assert.equal(conv.status, 'active');
    assert.equal(rec.pushes.length, 1, 'the ingest of the gateway\'s write is not pushed back');
  });

  it('the same reassignment again changes nothing: repeated event id, a new event id, the double again', async () => {
    const before = await systemLines();
    const again = await double.push({ events: pushed.events, gateway_url: gw.url });
    assert.ok(again.status >= 200 && again.status < 300, `repeat answered ${again.status} ${again.response}`);
    const fresh = await postEvents(gw, { events: [conversationEvent(pushed.events[0].data)], secret: double.pushSecret });
    assert.equal(fresh.status, 200, `same data, new event id → ${fresh.status} ${fresh.text}`);
    assert.deepEqual(await double.reassign({ conversation_id: roomId, agent_id: 6, gateway_url: gw.url }), { changed: false },
      'the addon pushes nothing when the agent does not change');
    const marker = messageEvent(roomId, { authorId: '6', authorName: 'Bea Billing', content: uniq('marker after the repeats') });
    assert.equal((await postEvents(gw, { events: [marker], secret: double.pushSecret })).status, 200);
    await waitFor(v, 'message', (m) => m.id === marker.data.message.id);
    await waitFor(bea, 'message', (m) => m.id === marker.data.message.id);
    assertNone(v, 'support:assigned', (x) => x.roomId === roomId, '(a repeat announced the agent again)');
    assertNone(bea, 'conversation:new', (c) => c.id === roomId, '(a repeat announced the chat again)');
    assertNone(sam, 'conversation:updated', (c) => c.id === roomId, '(a repeat told Sam again)');
    assert.deepEqual(await systemLines(), before, 'no new system message');
  });

  it('a push naming a non-agent, an unknown user or a guest is ignored (2xx); the chat stays Bea\'s', async () => {
    const events = [
      conversationEvent({ conversation_id: roomId, status: 'active', assigned_agent_id: '1' }), // Ada, a student
      conversationEvent({ conversation_id: roomId, status: 'active', assigned_agent_id: '999' }),
      conversationEvent({ conversation_id: roomId, status: 'active', assigned_agent_id: v.session.userId }),
      conversationEvent({ conversation_id: roomId, status: 'active', assigned_agent_id: { id: 5 } }),
      conversationEvent({ conversation_id: roomId, status: 'active', assigned_agent_id: null }),
    ];
    const before = await systemLines();
    const res = await postEvents(gw, { events, secret: double.pushSecret });
    assert.equal(res.status, 200, `${res.status} ${res.text}`);
    const marker = messageEvent(roomId, { authorId: '6', authorName: 'Bea Billing', content: uniq('marker after the refusals') });
    assert.equal((await postEvents(gw, { events: [marker], secret: double.pushSecret })).status, 200);
    await waitFor(v, 'message', (m) => m.id === marker.data.message.id);
    assertNone(v, 'support:assigned', (x) => x.roomId === roomId);
    assert.deepEqual(await systemLines(), before);
    const mine = (await ok(v, 'conversations:list', {})).conversations.find((c) => c.id === roomId);
    assert.equal(mine.support.agentId, '6');
    assert.ok(!mine.participants.some((p) => p.id === '1'));
  });

  it('an agent taking a queued chat in the back office (the same push) assigns it here', async () => {
    // course_inquiry → sales: no sales or general agent exists, so it queues.
    const w = await connect(gw, null);
    const res = await ok(w, 'support:start', { name: 'Wes Waiting', email: 'wes@example.org', queryType: 'course_inquiry' });
    const queued = res.conversation.id;
    assert.equal(res.status, 'queued');
    await untilDrained(gw, 20000);
    const take = await double.reassign({ conversation_id: queued, agent_id: 5, gateway_url: gw.url });
    assert.equal(take.state, 'sent', `${take.status} ${take.response}`);
    assert.deepEqual(take.events[0].data, { conversation_id: queued, status: 'active', assigned_agent_id: '5' });
    assert.deepEqual(await waitFor(w, 'support:assigned', (x) => x.roomId === queued), { roomId: queued, agent: { id: '5', name: 'Sam Agent' } });
    const conv = await waitFor(sam, 'conversation:new', (c) => c.id === queued);
    assert.equal(conv.status, 'active');
    const hello = await ok(w, 'message', { roomId: queued, content: uniq('hello Sam') });
    await waitFor(sam, 'message', (m) => m.id === hello.message.id);
    w.disconnect();
  });
});

describe('odoo bridge: a non-manager agent takes, answers and ends from the back office (issue 10)', () => {
  // "At once" is proven without timing: each action's push was already
  // accepted by the gateway (state "sent") when the back office answered,
  // instead of waiting for the cron. (The 1 s figure is measured on real Odoo.)
  let double, gw, sam, v, roomId;
  before(async () => {
    double = await startDouble();
    gw = await startOdooGateway(double, { retryMaxMs: RETRY_MAX_MS });
    sam = await as(gw, '5');
    v = await connect(gw, null);
    // course_inquiry → sales: no sales or general agent exists, so it queues.
    const res = await ok(v, 'support:start', { name: 'Quinn Queued', email: 'quinn@example.org', queryType: 'course_inquiry' });
    roomId = res.conversation.id;
    assert.equal(res.status, 'queued');
    await untilDrained(gw, 20000);
  });
  after(async () => { await gw?.stop(); await double?.stop(); });

  it('Take, a reply and End by the agent each reach the visitor at once (their push is not left to the cron)', async () => {
    const assigned = waitFor(v, 'support:assigned', (x) => x.roomId === roomId);
    const take = await double.take({ conversation_id: roomId, user_id: 5, gateway_url: gw.url });
    assert.equal(take.state, 'sent', `Take was pushed at once: ${JSON.stringify(take)}`);
    assert.equal((await assigned).agent.id, '5');
    const content = uniq('answered by the agent');
    const got = waitFor(v, 'message', (m) => m.content === content);
    const reply = await double.agentReply({ conversation_id: roomId, author_id: 5, content, gateway_url: gw.url });
    assert.equal(reply.state, 'sent');
    assert.equal((await got).authorId, '5');
    const ended = waitFor(v, 'support:ended', (x) => x.roomId === roomId);
    const end = await double.end({ conversation_id: roomId, user_id: 5, gateway_url: gw.url });
    assert.equal(end.state, 'sent');
    assert.deepEqual(await ended, { roomId });
  });

  it('another agent may not act on it: the back office refuses, nothing reaches the room', async () => {
    await assert.rejects(double.agentReply({ conversation_id: roomId, author_id: 6, content: 'not mine', gateway_url: gw.url }),
      /ended|assigned agent/);
    await assert.rejects(double.end({ conversation_id: roomId, user_id: 6, gateway_url: gw.url }), /assigned agent/);
    assertNone(v, 'message', (m) => m.content === 'not mine', '(a refused reply was delivered)');
    const o = await untilDrained(gw, 20000);
    assert.equal(o.deadLetters, 0, `zero dead letters: ${JSON.stringify(o)}`);
  });

  it('the gateway\'s late echo of a Take does not reopen a chat ended in the back office, and is no dead letter', async () => {
    // Seen on a real Odoo: the gateway's "active" state reached Odoo after the
    // agent's End. Made certain here: Odoo's API is unreachable while the
    // back office takes and ends, so both echoes wait in the outbox.
    const w = await connect(gw, null);
    const res = await ok(w, 'support:start', { name: 'Lee Late', email: 'lee@example.org', queryType: 'course_inquiry' });
    const cid = res.conversation.id;
    await untilDrained(gw, 20000);
    await double.faults({ down: true });
    try {
      const assigned = waitFor(w, 'support:assigned', (x) => x.roomId === cid);
      assert.equal((await double.take({ conversation_id: cid, user_id: 5, gateway_url: gw.url })).state, 'sent');
      await assigned;
      const ended = waitFor(w, 'support:ended', (x) => x.roomId === cid);
      assert.equal((await double.end({ conversation_id: cid, user_id: 5, gateway_url: gw.url })).state, 'sent');
      await ended;
      await untilOdoo(gw, (x) => x.backlog >= 1, 'the echoes queued while Odoo is unreachable', 10000);
    } finally {
      await double.faults({ down: false });
    }
    const o = await untilDrained(gw, 30000);
    assert.equal(o.deadLetters, 0, `the late echo was not refused: ${JSON.stringify(o)}`);
    assert.equal((await double.records()).conversations[cid].status, 'ended', 'the chat stays ended in Odoo');
    w.disconnect();
  });
});
