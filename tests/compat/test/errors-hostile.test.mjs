// §2 acks and errors: every code reachable from the gateway alone, chat:error for
// events sent without an ack, hostile payloads. After each hostile input the
// gateway must still be healthy and other clients unaffected.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGateway, connect, ok, fails, ack, waitFor, assertNone, uniq, sendAndSee,
  directRoom, assertHealthy, once, fetchT, DEFAULT_TIMEOUT_MS,
} from '../lib/gateway.mjs';

const ZERO_ID = '01900000-0000-7000-8000-000000000000';

describe('error codes and chat:error', () => {
  let gw, ada, ian, ben, room;
  before(async () => {
    gw = await startGateway();
    ada = await connect(gw, '1');
    ian = await connect(gw, '2');
    ben = await connect(gw, '3');
    room = await directRoom(ada, '2');
    await waitFor(ian, 'message', (m) => m.roomId === room);
  });
  after(async () => { await gw?.stop(); });

  it('ack error shape is exactly { ok:false, error:{ code, message } }', async () => {
    const res = await fails(ada, 'invalid', 'message', { roomId: room });
    assert.deepEqual(Object.keys(res).sort(), ['error', 'ok']);
    assert.deepEqual(Object.keys(res.error).sort(), ['code', 'message']);
    assert.ok(res.error.message.length > 0);
  });

  it('invalid: missing or wrong-typed fields', async () => {
    await fails(ada, 'invalid', 'message', { roomId: room, content: 42 });
    await fails(ada, 'invalid', 'message', { content: 'no room, no recipient' });
    await fails(ada, 'invalid', 'message', { roomId: 42, content: 'x' });
    await fails(ada, 'invalid', 'message', { roomId: room, content: 'x', attachments: 'a' });
    await fails(ada, 'invalid', 'message', { roomId: room, content: 'x', clientId: {} });
    await fails(ada, 'invalid', 'message', { roomId: room, content: 'x', parentId: 7 });
  });

  it('not_found: unknown room, unknown message, unknown recipient', async () => {
    await fails(ada, 'not_found', 'message', { roomId: ZERO_ID, content: 'x' });
    await fails(ada, 'not_found', 'message', { recipientId: 'no-such-user', content: 'x' });
    await fails(ada, 'not_found', 'message:edit', { messageId: ZERO_ID, content: 'x' });
  });

  it('forbidden: someone else\'s room, a recipient routing does not allow', async () => {
    await fails(ben, 'forbidden', 'message', { roomId: room, content: 'x' });
    await fails(ada, 'forbidden', 'message', { recipientId: '3', content: 'x' });
  });

  it('too_large: content over the limit, more than 10 attachments', async () => {
    await fails(ada, 'too_large', 'message', { roomId: room, content: 'x'.repeat(4001) });
    const ids = Array.from({ length: 11 }, (_, i) => `att-${i}`);
    // the count limit is a property of the payload, checked before any lookup
    await fails(ada, 'too_large', 'message', { roomId: room, content: 'x', attachments: ids });
  });

  it('not_found: an attachment id that was never uploaded', async () => {
    await fails(ada, 'not_found', 'message', { roomId: room, content: 'see file', attachments: ['no-such-attachment'] });
    await fails(ada, 'invalid', 'message', { roomId: room, content: 'see file', attachments: [42] });
  });

  it('unauthorized: a guest uses a signed-in-only event (agent:status)', async () => {
    // Reading: unauthorized = no signed-in identity for an action that needs one
    // (a guest); forbidden = signed in, but not allowed (a student).
    const g = await connect(gw, null);
    await fails(g, 'unauthorized', 'agent:status', { available: true });
    await fails(ada, 'forbidden', 'agent:status', { available: true });
    g.disconnect();
  });

  // payloads are functions: `room` exists only once before() has run
  const noAck = [
    ['message', () => ({ roomId: ZERO_ID, content: 'x' }), 'not_found'],
    ['message', () => ({ roomId: room, content: 'x'.repeat(4001) }), 'too_large'],
    ['message', () => ({ roomId: room, content: 123 }), 'invalid'],
    ['join', () => ({ roomId: ZERO_ID }), 'not_found'],
    ['typing', () => ({ roomId: 17 }), 'invalid'],
    ['typing:start', () => ZERO_ID, 'not_found'],
    ['read', () => ({ roomId: room, messageId: 5 }), 'invalid'],
    ['message:edit', () => ({ messageId: ZERO_ID, content: 'x' }), 'not_found'],
    ['message:delete', () => ({ messageId: ZERO_ID }), 'not_found'],
    ['message:react', () => ({ messageId: ZERO_ID, emoji: '👍' }), 'not_found'],
    ['messages:history', () => ({ roomId: ZERO_ID }), 'not_found'],
    ['conversation:create', () => ({ type: 'nope', participantIds: [] }), 'invalid'],
    ['broadcast', () => ({ content: 'hi' }), 'forbidden'],
  ];
  for (const [event, payload, code] of noAck) {
    it(`without an ack, ${event} failing with ${code} → chat:error { event, code, message }`, async () => {
      ada.emit(event, payload());
      const err = await waitFor(ada, 'chat:error', (e) => e.event === event);
      assert.equal(err.code, code, JSON.stringify(err));
      assert.equal(typeof err.message, 'string');
      assert.deepEqual(Object.keys(err).sort(), ['code', 'event', 'message']);
    });
  }

  it('a failing event with an ack gets the ack and no chat:error', async () => {
    await fails(ada, 'not_found', 'message', { roomId: ZERO_ID, content: 'with ack' });
    // marker: a no-ack failure after it
    ada.emit('message:delete', { messageId: ZERO_ID });
    await waitFor(ada, 'chat:error', (e) => e.event === 'message:delete');
    assertNone(ada, 'chat:error', (e) => e.event === 'message');
  });

  it('a successful event without an ack gets no chat:error', async () => {
    ada.emit('message', { roomId: room, content: 'no ack, fine' });
    await waitFor(ian, 'message', (m) => m.content === 'no ack, fine');
    ada.emit('message:delete', { messageId: ZERO_ID });
    await waitFor(ada, 'chat:error', (e) => e.event === 'message:delete');
    assertNone(ada, 'chat:error', (e) => e.event === 'message');
  });
});

describe('rate limit', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ args: ['--message-burst', '3', '--message-rate-per-minute', '1'] });
  });
  after(async () => { await gw?.stop(); });

  it('burst then rate_limited (ack and chat:error); per user; nothing stored', async () => {
    const ada = await connect(gw, '1');
    const ian = await connect(gw, '2');
    const first = await ok(ada, 'message', { recipientId: '2', content: 'one' });
    const room = first.message.roomId;
    await ok(ada, 'message', { roomId: room, content: 'two' });
    await ok(ada, 'message', { roomId: room, content: 'three' });
    await fails(ada, 'rate_limited', 'message', { roomId: room, content: 'four' });
    ada.emit('message', { roomId: room, content: 'five' });
    const err = await waitFor(ada, 'chat:error', (e) => e.event === 'message');
    assert.equal(err.code, 'rate_limited');
    // Ian has his own bucket
    const m = await ok(ian, 'message', { roomId: room, content: 'ian is fine' });
    await waitFor(ada, 'message', (x) => x.id === m.message.id);
    const hist = await ok(ian, 'messages:history', { roomId: room });
    const contents = hist.messages.map((x) => x.content);
    assert.ok(!contents.includes('four') && !contents.includes('five'), `rate-limited messages not stored: ${contents}`);
    // a second tab of Ada shares her bucket (per user, not per socket)
    const ada2 = await connect(gw, '1');
    await fails(ada2, 'rate_limited', 'message', { roomId: room, content: 'six' });
    await assertHealthy(gw);
    ada.disconnect(); ada2.disconnect(); ian.disconnect();
  });
});

describe('rate limit defaults (100 a minute, burst 20)', () => {
  let gw;
  before(async () => { gw = await startGateway({ highRate: false }); });
  after(async () => { await gw?.stop(); });

  it('a burst of 30 at once: about 20 accepted, the rest rate_limited', async () => {
    const ada = await connect(gw, '1');
    const room = (await ok(ada, 'message', { recipientId: '2', content: 'first' })).message.roomId;
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => ack(ada, 'message', { roomId: room, content: `b${i}` })));
    const accepted = results.filter((r) => r.ok).length;
    const limited = results.filter((r) => !r.ok && r.error.code === 'rate_limited').length;
    assert.equal(accepted + limited, 30, JSON.stringify(results.filter((r) => !r.ok && r.error.code !== 'rate_limited')));
    // 19 tokens left after the first message, plus at most a few refilled (100/min) while sending
    assert.ok(accepted >= 18 && accepted <= 23, `accepted ${accepted} of 30`);
    ada.disconnect();
  });
});

describe('hostile payloads', () => {
  let gw, ada, ian, ben, dan, jill, room, otherRoom;
  before(async () => {
    gw = await startGateway();
    ada = await connect(gw, '1');
    ian = await connect(gw, '2');
    ben = await connect(gw, '3');
    dan = await connect(gw, '6');
    jill = await connect(gw, '7');
    room = await directRoom(ada, '2');
    otherRoom = await directRoom(dan, '7');
    await waitFor(ian, 'message', (m) => m.roomId === room);
    await waitFor(jill, 'message', (m) => m.roomId === otherRoom);
  });
  after(async () => { await gw?.stop(); });

  /** The gateway is healthy and Dan↔Jill still chat. */
  async function othersUnaffected() {
    await assertHealthy(gw);
    await sendAndSee(dan, otherRoom, [jill]);
    await sendAndSee(jill, otherRoom, [dan]);
  }

  const events = ['join', 'join:room', 'leave', 'leave:room', 'message', 'typing', 'typing:start', 'typing:stop',
    'read', 'message:read', 'message:edit', 'message:delete', 'message:react', 'conversations:list',
    'conversation:create', 'messages:history', 'sync', 'users:search', 'broadcast'];
  const bad = [
    ['null', null],
    ['a number', 42],
    ['an array', [1, 'two', { three: 3 }]],
    ['a boolean', true],
    ['an object of wrong types', { roomId: 12, content: {}, messageId: [], emoji: 5, query: null, since: {}, type: 7, participantIds: 'x', limit: 'many', isTyping: 'yes' }],
    ['a huge string', 'z'.repeat(300_000)],
    ['deeply nested objects (depth 100)', JSON.parse('{"a":'.repeat(100) + '1' + '}'.repeat(100))],
    ['prototype pollution keys', JSON.parse('{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"roomId":"r"}')],
    ['a binary buffer', Buffer.from([0xde, 0xad, 0xbe, 0xef])],
  ];
  for (const [label, payload] of bad) {
    it(`every event with ${label}: refused with an error ack, nothing changes`, async () => {
      // a fresh tab of Ada per payload, so one bad outcome cannot cascade
      const h = await connect(gw, '1');
      for (const ev of events) {
        let res;
        try {
          res = await ack(h, ev, payload);
        } catch (e) {
          throw new Error(`${ev} with ${label}: no ack (${e.message}); connected=${h.connected}`);
        }
        // conversations:list has only optional fields: a non-object may be
        // refused, or read as "no filter"; everything else must be refused.
        if (ev === 'conversations:list' && res.ok === true) {
          assert.ok(Array.isArray(res.conversations));
          continue;
        }
        assert.equal(res.ok, false, `${ev} with ${label} → ${JSON.stringify(res).slice(0, 300)}`);
        assert.ok(['invalid', 'too_large', 'not_found', 'forbidden'].includes(res.error.code),
          `${ev} with ${label} → code ${res.error.code}`);
        const hasStringRoom = typeof payload === 'string' ||
          (payload && typeof payload === 'object' && typeof payload.roomId === 'string');
        // a student's broadcast may be refused as forbidden before it is parsed
        if (!hasStringRoom && ev !== 'broadcast') {
          assert.ok(['invalid', 'too_large'].includes(res.error.code), `${ev} with ${label} → ${res.error.code}, expected invalid/too_large`);
        }
      }
      assert.ok(h.connected, 'the sender is still connected');
      await othersUnaffected();
      // and the sender still works
      await sendAndSee(h, room, [ian]);
      h.disconnect();
    });
  }

  it('a payload nested deeper than any JSON parser allows: refused or the offender dropped, others unaffected', async () => {
    const h = await connect(gw, '1');
    const deep = JSON.parse('{"a":'.repeat(3000) + '1' + '}'.repeat(3000));
    const closed = once(h, 'disconnect').then(() => 'disconnected');
    const acked = ack(h, 'message', deep).then((r) => r, (e) => ({ ackError: e.message }));
    const outcome = await Promise.race([closed, acked]);
    if (outcome !== 'disconnected' && !outcome.ackError) {
      assert.equal(outcome.ok, false);
      assert.ok(['invalid', 'too_large'].includes(outcome.error.code));
    } else if (outcome !== 'disconnected') {
      assert.ok(!h.connected, `no ack and still connected: ${outcome.ackError}`);
    }
    h.disconnect();
    await othersUnaffected();
  });

  it('an event with no arguments at all gets an invalid ack', async () => {
    for (const ev of ['message', 'join', 'message:edit', 'messages:history', 'sync']) {
      const res = await ada.timeout(DEFAULT_TIMEOUT_MS).emitWithAck(ev);
      assert.equal(res.ok, false, `${ev} → ${JSON.stringify(res)}`);
      assert.equal(res.error.code, 'invalid', `${ev}`);
    }
    await othersUnaffected();
  });

  it('extra arguments and unknown events do not break anything', async () => {
    ada.emit('no-such-event', { x: 1 });
    ada.emit('message', { roomId: room, content: 'with extra args' }, 'extra', 2, null);
    await waitFor(ian, 'message', (m) => m.content === 'with extra args');
    await othersUnaffected();
  });

  it('unknown rooms and someone else\'s room: refused for every room event', async () => {
    const m = await sendAndSee(dan, otherRoom, [jill]);
    for (const [ev, payload] of [
      ['join', { roomId: otherRoom }], ['join:room', otherRoom],
      ['message', { roomId: otherRoom, content: 'intrude' }],
      ['messages:history', { roomId: otherRoom }],
      ['read', { roomId: otherRoom, messageId: m.id }],
      ['message:read', { roomId: otherRoom, messageId: m.id }],
      ['typing', { roomId: otherRoom }],
    ]) {
      await fails(ada, 'forbidden', ev, payload);
    }
    for (const [ev, payload] of [
      ['message:edit', { messageId: m.id, content: 'defaced' }],
      ['message:delete', { messageId: m.id }],
      ['message:react', { messageId: m.id, emoji: '💩' }],
    ]) {
      await fails(ada, ['forbidden', 'not_found'], ev, payload);
    }
    for (const r of ['', ' ', 'room:../../etc/passwd', "x' OR 1=1 --", 'user:2', ZERO_ID, 'a'.repeat(10_000)]) {
      const res = await ack(ada, 'message', { roomId: r, content: 'x' });
      assert.equal(res.ok, false, `roomId ${JSON.stringify(r.slice(0, 40))}`);
      assert.ok(['not_found', 'invalid', 'too_large'].includes(res.error.code), `roomId ${r.slice(0, 40)} → ${res.error.code}`);
    }
    // the personal room of another user is not a conversation
    await fails(ada, ['not_found', 'forbidden'], 'join', { roomId: 'user:2' });
    await sendAndSee(jill, otherRoom, [dan]);
    for (const ev of ['message', 'typing', 'user:joined', 'message:updated', 'message:deleted', 'message:reaction', 'message:read']) {
      assertNone(jill, ev, (x) => x.userId === '1' || x.authorId === '1');
    }
    const h = await ok(jill, 'messages:history', { roomId: otherRoom });
    assert.ok(h.messages.every((x) => x.authorId !== '1'));
    assert.equal(h.messages.find((x) => x.id === m.id).content, m.content);
    await othersUnaffected();
  });

  it('forged ids in payloads are ignored: the author is the authenticated user', async () => {
    const res = await ok(ada, 'message', { roomId: room, content: 'who wrote this?', userId: '9', authorId: '9', authorName: 'Root Admin', senderId: '9', id: ZERO_ID, createdAt: '2000-01-01T00:00:00.000Z', type: 'system' });
    assert.equal(res.message.authorId, '1');
    assert.equal(res.message.authorName, 'Ada Student');
    assert.notEqual(res.message.id, ZERO_ID);
    assert.notEqual(res.message.createdAt, '2000-01-01T00:00:00.000Z');
    assert.equal(res.message.type, 'text', 'clients cannot post system messages');
    const got = await waitFor(ian, 'message', (m) => m.id === res.message.id);
    assert.equal(got.authorId, '1');
  });

  for (const transport of ['websocket', 'polling']) {
    it(`a packet over 1 MB (${transport}) is rejected without harming others`, async () => {
      const big = await connect(gw, '1', { transports: [transport], upgrade: false });
      const content = 'B'.repeat(1_100_000);
      const closed = once(big, 'disconnect', DEFAULT_TIMEOUT_MS * 2).then(() => 'disconnected');
      const acked = big.timeout(DEFAULT_TIMEOUT_MS * 2).emitWithAck('message', { roomId: room, content })
        .then((r) => r, (e) => ({ ackError: e.message }));
      const outcome = await Promise.race([closed, acked]);
      // Like socket.io with maxHttpBufferSize, the gateway may drop the
      // offending connection, or refuse the event with too_large; never accept it.
      if (outcome !== 'disconnected' && !outcome.ackError) {
        assert.equal(outcome.ok, false, 'the >1 MB message is refused');
        assert.equal(outcome.error.code, 'too_large');
      } else if (outcome !== 'disconnected') {
        assert.ok(!big.connected, `no ack and still connected: ${outcome.ackError}`);
      }
      big.disconnect();
      await othersUnaffected();
      await sendAndSee(ada, room, [ian]);
      assertNone(ian, 'message', (m) => m.content && m.content.length > 4000);
    });
  }

  for (const transport of ['websocket', 'polling']) {
    it(`a packet just under 1 MB (${transport}) reaches the gateway: too_large ack, connection kept`, async () => {
      // maxHttpBufferSize is 1 MB on both transports, not a smaller default
      const h = await connect(gw, '1', { transports: [transport], upgrade: false });
      const res = await ack(h, 'message', { roomId: room, content: 'C'.repeat(900_000) });
      assert.equal(res.ok, false);
      assert.equal(res.error.code, 'too_large');
      assert.ok(h.connected, 'still connected');
      await sendAndSee(h, room, [ian]);
      h.disconnect();
    });
  }

  it('a raw oversize polling POST is refused with an HTTP error, not a crash', async () => {
    const hs = await fetchT(`${gw.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(hs.status, 200);
    const text = await hs.text();
    const sid = JSON.parse(text.slice(text.indexOf('{'))).sid;
    const res = await fetchT(`${gw.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: 'POST', body: '4' + 'x'.repeat(2_000_000), headers: { 'content-type': 'text/plain;charset=UTF-8' },
    }).catch((e) => ({ status: 'closed', e }));
    assert.ok(res.status === 'closed' || res.status >= 400, `oversize POST status ${res.status}`);
    await othersUnaffected();
  });

  it('garbage on the Engine.IO endpoint is refused, not a crash', async () => {
    for (const q of ['EIO=3&transport=polling', 'EIO=4&transport=carrier-pigeon', 'EIO=4&transport=polling&sid=nope']) {
      const res = await fetchT(`${gw.url}/socket.io/?${q}`);
      assert.ok(res.status >= 400, `${q} → ${res.status}`);
    }
    await othersUnaffected();
  });

  it('many hostile clients at once: the gateway stays up and others keep chatting', async () => {
    const hostile = await Promise.all(Array.from({ length: 20 }, () => connect(gw, null)));
    await Promise.all(hostile.map(async (h, i) => {
      for (const ev of events) h.emit(ev, i % 2 ? null : { roomId: room, content: 'x'.repeat(5000), messageId: room });
      await ack(h, 'message', { roomId: room, content: 'guest intrusion' });
    }));
    await othersUnaffected();
    await sendAndSee(ian, room, [ada]);
    assertNone(ada, 'message', (m) => m.content === 'guest intrusion');
    hostile.forEach((h) => h.disconnect());
  });
});

describe('configurable limits', () => {
  it('--max-content-chars sets the content limit', async () => {
    const gw = await startGateway({ args: ['--max-content-chars', '10'] });
    try {
      const ada = await connect(gw, '1');
      const r = await ok(ada, 'message', { recipientId: '2', content: '0123456789' });
      await fails(ada, 'too_large', 'message', { roomId: r.message.roomId, content: '0123456789A' });
    } finally { await gw.stop(); }
  });

  it('loopback is exempt from the per-IP connection limit by default', async () => {
    const gw = await startGateway({ args: ['--connection-rate-per-minute', '3'] });
    try {
      const socks = [];
      for (let i = 0; i < 8; i++) socks.push(await connect(gw, null));
      assert.equal(socks.length, 8);
      await assertHealthy(gw);
    } finally { await gw.stop(); }
  });

  it('--rate-limit-loopback: new connections over the per-IP limit are refused, open ones unaffected', async () => {
    const gw = await startGateway({ args: ['--connection-rate-per-minute', '4', '--rate-limit-loopback'] });
    try {
      // default transports (polling, then upgrade), as a browser connects:
      // the limit counts connections, not the HTTP requests of a polling session
      const socks = [];
      for (let i = 0; i < 4; i++) {
        const s = await connect(gw, i === 0 ? '1' : i === 1 ? '2' : null);
        await ok(s, 'conversations:list', {});
        socks.push(s);
      }
      const { connectFails } = await import('../lib/gateway.mjs');
      const err = await connectFails(gw, {});
      assert.ok(err instanceof Error, 'the fifth connection in a minute is refused');
      // the open ones still work
      const r = await ok(socks[0], 'message', { recipientId: '2', content: 'still here' });
      await waitFor(socks[1], 'message', (m) => m.id === r.message.id);
      const h = await gw.health();
      assert.equal(h.body.status, 'ok');
    } finally { await gw.stop(); }
  });
});

describe('CORS (FRONTEND_URL)', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ args: ['--frontend-url', 'http://localhost:3000,https://learn.example.org'] });
  });
  after(async () => { await gw?.stop(); });

  for (const origin of ['http://localhost:3000', 'https://learn.example.org']) {
    it(`an allowed origin (${origin}) gets CORS headers with credentials`, async () => {
      const res = await fetchT(`${gw.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: origin } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      const pre = await fetchT(`${gw.url}/socket.io/?EIO=4&transport=polling`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      });
      assert.ok(pre.status < 300, `preflight ${pre.status}`);
      assert.equal(pre.headers.get('access-control-allow-origin'), origin);
    });
  }

  it('another origin gets no CORS allowance', async () => {
    const res = await fetchT(`${gw.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: 'https://evil.example.com' } });
    const acao = res.headers.get('access-control-allow-origin');
    assert.ok(acao === null || acao !== 'https://evil.example.com' && acao !== '*', `ACAO for a foreign origin: ${acao}`);
  });
});
