// Transports (polling-only, websocket-only, upgrade), /health and /metrics (§8).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGateway, connect, ok, fails, waitFor, once, uniq, assertMessage, untilConnections, until,
  fetchT, assertHealthy, sendAndSee, received,
} from '../lib/gateway.mjs';

describe('transports', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  for (const [label, transports] of [
    ['polling only', ['polling']],
    ['websocket only', ['websocket']],
    ['polling sender, websocket receiver', null],
  ]) {
    it(`chats end to end: ${label}`, async () => {
      const senderT = transports || ['polling'];
      const receiverT = transports || ['websocket'];
      const ada = await connect(gw, '1', { transports: senderT, upgrade: false });
      const ian = await connect(gw, '2', { transports: receiverT, upgrade: false });
      assert.equal(ada.io.engine.transport.name, senderT[0]);
      assert.equal(ian.io.engine.transport.name, receiverT[0]);
      assert.deepEqual(
        { userId: ada.session.userId, name: ada.session.name, role: ada.session.role },
        { userId: '1', name: 'Ada Student', role: 'student' },
      );
      const content = uniq('hello ' + label);
      const res = await ok(ada, 'message', { recipientId: '2', content });
      assertMessage(res.message, { content, authorId: '1', authorName: 'Ada Student', type: 'text' });
      const got = await waitFor(ian, 'message', (m) => m.id === res.message.id);
      assertMessage(got, { content, authorId: '1', roomId: res.message.roomId });
      // and back
      const reply = await ok(ian, 'message', { roomId: res.message.roomId, content: uniq('reply') });
      await waitFor(ada, 'message', (m) => m.id === reply.message.id);
      ada.disconnect(); ian.disconnect();
    });
  }

  it('the Engine.IO v4 handshake offers the websocket upgrade and a 1 MB maxPayload', async () => {
    const res = await fetchT(`${gw.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.equal(body[0], '0', 'an open packet');
    const open = JSON.parse(body.slice(1));
    assert.equal(typeof open.sid, 'string');
    assert.deepEqual(open.upgrades, ['websocket']);
    assert.equal(typeof open.pingInterval, 'number');
    assert.equal(typeof open.pingTimeout, 'number');
    assert.equal(open.maxPayload, 1_000_000);
  });

  it('a namespace other than / is refused with connect_error, the gateway unaffected', async () => {
    const { io } = await import('socket.io-client');
    const s = io(`${gw.url}/admin`, { forceNew: true, reconnection: false, auth: { token: gw.token('9') } });
    try {
      const err = await once(s, 'connect_error');
      assert.ok(err instanceof Error);
      assert.equal(s.connected, false);
    } finally { s.disconnect(); }
    await assertHealthy(gw);
  });

  it('upgrades from polling to websocket with default transports', async () => {
    const ada = await connect(gw, '1');
    if (ada.io.engine.transport.name !== 'websocket') {
      await once(ada.io.engine, 'upgrade');
    }
    assert.equal(ada.io.engine.transport.name, 'websocket');
    const res = await ok(ada, 'conversations:list', {});
    assert.ok(Array.isArray(res.conversations));
    ada.disconnect();
  });
});

describe('delivery under transport churn', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('messages sent while the transport upgrades are all delivered exactly once', async () => {
    const ian = await connect(gw, '2', { transports: ['polling'], upgrade: false });
    const ada = await connect(gw, '1'); // polling, upgrading to websocket right now
    const first = await ok(ada, 'message', { recipientId: '2', content: 'start' });
    const room = first.message.roomId;
    const acks = await Promise.all(Array.from({ length: 60 }, (_, i) =>
      ok(ada, 'message', { roomId: room, content: `burst ${i}` })));
    const ids = new Set(acks.map((a) => a.message.id));
    assert.equal(ids.size, 60);
    for (const id of ids) await waitFor(ian, 'message', (m) => m.id === id);
    await sendAndSee(ada, room, [ian]);
    const dupes = received(ian, 'message', (m) => ids.has(m.id));
    assert.deepEqual(dupes, [], 'no message delivered twice');
    ada.disconnect(); ian.disconnect();
  });

  it('a polling receiver gets a concurrent burst from several senders exactly once', async () => {
    const admin = await connect(gw, '9', { transports: ['polling'], upgrade: false });
    const senders = await Promise.all(['1', '3', '4', '6'].map((id) => connect(gw, id, { transports: ['websocket'] })));
    const ch = await ok(admin, 'conversation:create', { type: 'group', participantIds: ['1', '3', '4', '6'], name: uniq('burst') });
    const roomId = ch.conversation.id;
    const acks = (await Promise.all(senders.map((s) => Promise.all(Array.from({ length: 25 }, (_, i) =>
      ok(s, 'message', { roomId, content: `from ${s.session.userId} #${i}` })))))).flat();
    const ids = new Set(acks.map((a) => a.message.id));
    assert.equal(ids.size, 100);
    for (const id of ids) await waitFor(admin, 'message', (m) => m.id === id);
    await sendAndSee(senders[0], roomId, [admin]);
    assert.deepEqual(received(admin, 'message', (m) => ids.has(m.id)), []);
    const h = await ok(admin, 'messages:history', { roomId, limit: 100 });
    assert.equal(h.messages.filter((m) => ids.has(m.id)).length, 99, 'history holds them (100 newest minus the marker)');
    [admin, ...senders].forEach((x) => x.disconnect());
  });

  it('socket.io-client\'s automatic reconnection restores the session and room delivery without join', async () => {
    const ada = await connect(gw, '1', { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 200 });
    const ian = await connect(gw, '2');
    const room = (await ok(ada, 'message', { recipientId: '2', content: 'before drop' })).message.roomId;
    const reconnected = once(ada.io, 'reconnect', 10_000);
    ada.io.engine.close(); // the network drops: not a client-initiated disconnect
    await reconnected;
    const s = await waitFor(ada, 'session', (x) => x.userId === '1');
    assert.equal(s.role, 'student');
    await sendAndSee(ian, room, [ada]);
    ada.disconnect(); ian.disconnect();
  });
});

describe('/health and /metrics', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('/health is {status:"ok", connections:N} and counts connections', async () => {
    const h0 = await gw.health();
    assert.equal(h0.status, 200);
    assert.equal(h0.body.status, 'ok');
    assert.equal(typeof h0.body.connections, 'number');
    const base = h0.body.connections;
    const a = await connect(gw, '1');
    const b = await connect(gw, null);
    await untilConnections(gw, base + 2);
    a.disconnect();
    await untilConnections(gw, base + 1);
    b.disconnect();
    await untilConnections(gw, base);
  });

  it('/metrics is Prometheus text with the §8 core metrics and real values', async () => {
    const a = await connect(gw, '1');
    const b = await connect(gw, '2');
    await ok(a, 'message', { recipientId: '2', content: uniq('metrics') });
    await waitFor(b, 'message');
    const m = await gw.metrics();
    assert.equal(m.status, 200);
    assert.match(m.type || '', /^text\/plain/);
    for (const name of ['chat_active_connections', 'chat_messages_total', 'chat_connections_total']) {
      assert.match(m.text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} declared`);
    }
    assert.match(m.text, /^# TYPE chat_message_delivery_seconds histogram$/m);
    assert.match(m.text, /^chat_message_delivery_seconds_bucket\{.*le="\+Inf".*\} \d+/m);
    assert.match(m.text, /^chat_message_delivery_seconds_count(\{.*\})? \d+/m);
    assert.match(m.text, /^chat_message_delivery_seconds_sum(\{.*\})? [\d.e+-]+/m);
    // The message was acked, so its group commit is counted: the store
    // records the commit before it answers the writes it carried.
    assert.match(m.text, /^# TYPE chat_store_commit_writes histogram$/m);
    assert.match(m.text, /^chat_store_commit_writes_bucket\{.*le="1024".*\} \d+/m);
    const commits = Number(m.text.match(/^chat_store_commit_writes_count(?:\{[^}]*\})? (\d+)/m)?.[1]);
    const written = Number(m.text.match(/^chat_store_commit_writes_sum(?:\{[^}]*\})? ([\d.e+]+)/m)?.[1]);
    assert.ok(commits >= 1 && written >= commits, `commits ${commits}, writes ${written}`);
    assert.match(m.text, /^chat_messages_total\{[^}]*type="[^"]+"[^}]*\} \d+/m, 'chat_messages_total{type}');
    assert.match(m.text, /^chat_connections_total\{[^}]*result="[^"]+"[^}]*\} \d+/m, 'chat_connections_total{result}');
    const active = Number(m.text.match(/^chat_active_connections(?:\{[^}]*\})? ([\d.]+)/m)?.[1]);
    const h = await gw.health();
    assert.equal(active, h.body.connections, 'chat_active_connections equals /health connections');
    const sumMsgs = () => [...m.text.matchAll(/^chat_messages_total\{[^}]*\} ([\d.e+]+)/gm)].reduce((s, x) => s + Number(x[1]), 0);
    assert.ok(sumMsgs() >= 1, 'chat_messages_total counts the message just sent');
    // A further message adds one to each series a message touches, and an
    // event the gateway does not know counts as "unknown". All of them are
    // recorded before the ack, so one read after it sees them.
    const series = (t) => ({
      messages: [...t.matchAll(/^chat_messages_total\{[^}]*\} ([\d.e+]+)/gm)].reduce((s, x) => s + Number(x[1]), 0),
      text: Number(t.match(/^chat_messages_total\{[^}]*type="text"[^}]*\} ([\d.e+]+)/m)?.[1] ?? 0),
      messageEvents: Number(t.match(/^chat_events_total\{[^}]*event="message"[^}]*\} ([\d.e+]+)/m)?.[1] ?? 0),
      unknownEvents: Number(t.match(/^chat_events_total\{[^}]*event="unknown"[^}]*\} ([\d.e+]+)/m)?.[1] ?? 0),
      delivered: Number(t.match(/^chat_message_delivery_seconds_count(?:\{[^}]*\})? (\d+)/m)?.[1] ?? 0),
    });
    const before = series(m.text);
    await ok(a, 'message', { recipientId: '2', content: uniq('metrics2') });
    await fails(a, 'invalid', 'no:such:event', {});
    const after = series((await gw.metrics()).text);
    assert.deepEqual(after, {
      messages: before.messages + 1,
      text: before.text + 1,
      messageEvents: before.messageEvents + 1,
      unknownEvents: before.unknownEvents + 1,
      delivered: before.delivered + 1,
    });
    a.disconnect(); b.disconnect();
  });

  it('a failed handshake counts in chat_connections_total with a non-success result', async () => {
    const { connectFails } = await import('../lib/gateway.mjs');
    await connectFails(gw, { token: 'not-a-jwt' });
    const t = (await gw.metrics()).text;
    const results = [...t.matchAll(/^chat_connections_total\{[^}]*result="([^"]+)"[^}]*\} ([\d.e+]+)/gm)]
      .map((x) => [x[1], Number(x[2])]);
    assert.ok(results.length >= 2, `at least two result labels: ${JSON.stringify(results)}`);
    await assertHealthy(gw);
  });

  it('unknown HTTP route is a 404, not a crash', async () => {
    const res = await fetchT(`${gw.url}/definitely-not-a-route`);
    assert.equal(res.status, 404);
    await assertHealthy(gw);
  });

  it('/dev/token does not exist outside demo mode', async () => {
    const res = await fetchT(`${gw.url}/dev/token?user=1`);
    assert.equal(res.status, 404);
  });
});

describe('lifecycle and durability', () => {
  it('SIGTERM stops the gateway gracefully with exit code 0, closing client sockets', async () => {
    const gw = await startGateway();
    const ada = await connect(gw, '1', { transports: ['websocket'] });
    const closed = once(ada, 'disconnect', 15000);
    const res = await gw.stop();
    assert.deepEqual({ code: res.code, signal: res.signal, forced: !!res.forced }, { code: 0, signal: null, forced: false });
    await closed;
  });

  for (const how of ['SIGTERM', 'SIGKILL']) {
  it(`${how} under load: every message acked before the stop is there after a restart`, async () => {
    let gw = await startGateway();
    const senders = [await connect(gw, '1'), await connect(gw, '3'), await connect(gw, '9')];
    const room = {};
    room['1'] = (await ok(senders[0], 'message', { recipientId: '2', content: 'load 1' })).message.roomId;
    room['3'] = (await ok(senders[1], 'message', { recipientId: '2', content: 'load 3' })).message.roomId;
    room['9'] = (await ok(senders[2], 'message', { recipientId: '2', content: 'load 9' })).message.roomId;
    const acked = [];
    let stopping = false;
    const pumps = senders.map(async (s) => {
      for (let i = 0; i < 5000 && !stopping; i++) {
        try {
          const r = await s.timeout(5000).emitWithAck('message', { roomId: room[s.session.userId], content: `load ${i}` });
          if (r && r.ok) acked.push(r.message.id);
        } catch { return; } // disconnected by the shutdown
      }
    });
    await until(() => acked.length >= 150, '150 messages acked under load');
    const { dataDir, secret, databaseUrl } = gw;
    gw.keep();
    const stopped = how === 'SIGTERM' ? gw.stop() : gw.crash();
    stopping = true;
    const res = await stopped;
    await Promise.all(pumps);
    if (how === 'SIGTERM') assert.deepEqual({ code: res.code, forced: !!res.forced }, { code: 0, forced: false });
    gw = await startGateway({ dataDir, secret, databaseUrl });
    try {
      const ian = await connect(gw, '2');
      const have = new Set();
      for (const id of Object.values(room)) {
        let before;
        for (let page = 0; page < 100; page++) {
          const h = await ok(ian, 'messages:history', { roomId: id, limit: 100, ...(before ? { before } : {}) });
          h.messages.forEach((m) => have.add(m.id));
          if (!h.hasMore) break;
          before = h.messages.at(-1).id;
        }
      }
      const lost = acked.filter((id) => !have.has(id));
      assert.deepEqual(lost, [], `${lost.length} of ${acked.length} acked messages lost across a graceful stop`);
    } finally {
      await gw.stop();
    }
  });
  }

  it('acked messages survive kill -9 and a restart on the same data dir; ids keep increasing', async () => {
    let gw = await startGateway();
    const ada = await connect(gw, '1');
    const acked = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      ok(ada, 'message', { recipientId: '2', content: `durable ${i}`, clientId: `durable-${i}` })));
    const guest = await connect(gw, null);
    const { userId: guestId, guestToken } = guest.session;
    const { dataDir, secret } = gw;
    await gw.crash();
    gw = await startGateway({ dataDir, secret });
    try {
      const ian = await connect(gw, '2');
      const roomId = acked[0].message.roomId;
      const h = await ok(ian, 'messages:history', { roomId, limit: 100 });
      const ids = new Set(h.messages.map((m) => m.id));
      for (const a of acked) assert.ok(ids.has(a.message.id), `acked message ${a.message.content} survived`);
      // clientId idempotency holds across the restart
      const ada2 = await connect(gw, '1');
      const again = await ok(ada2, 'message', { roomId, content: 'durable 0', clientId: 'durable-0' });
      assert.equal(again.message.id, acked[0].message.id);
      // a visitor who reloads after a restart keeps its identity
      const g2 = await connect(gw, { token: guestToken });
      assert.equal(g2.session.userId, guestId, 'guest token still valid after a restart');
      const fresh = await ok(ada2, 'message', { roomId, content: 'after restart' });
      const maxBefore = acked.map((a) => a.message.id).sort().at(-1);
      assert.ok(fresh.message.id > maxBefore, 'new ids sort after the ones stored before the crash');
    } finally {
      await gw.stop();
    }
  });
});
