// Issue 11, item 1: no silent loss. Every event that asks for an ack gets
// exactly one, and a client that cannot keep up is either sent everything or
// disconnected (so it knows, reconnects and catches up with `sync`); it is
// never left connected with a gap.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGateway, connect, ok, ack, once, waitFor, received, until, DEFAULT_TIMEOUT_MS,
} from '../lib/gateway.mjs';

const gateways = [];
after(async () => { for (const gw of gateways) await gw.stop(); });

async function gateway(opts) {
  const gw = await startGateway(opts);
  gateways.push(gw);
  return gw;
}

/** Every message of `roomId` after `since`, through `sync`, page by page (bounded). */
async function syncAll(socket, since, roomId) {
  const out = [];
  let cursor = since;
  for (let page = 0; page < 100; page++) {
    const res = await ok(socket, 'sync', { since: cursor });
    out.push(...res.messages.filter((m) => m.roomId === roomId));
    if (!res.hasMore || res.messages.length === 0) return out;
    cursor = res.messages[res.messages.length - 1].id;
  }
  throw new Error('sync did not finish in 100 pages');
}

function overflows(metricsText) {
  const m = metricsText.match(/^chat_socket_buffer_overflows_total(?:\{[^}]*\})? (\d+)/m);
  assert.ok(m, 'chat_socket_buffer_overflows_total is exported');
  return Number(m[1]);
}

test('a reader that stops reading gets every message, or is disconnected and recovers them all with sync', async (t) => {
  const gw = await gateway();
  const admin = await connect(gw, '9');
  const reader = await connect(gw, '1');
  const first = await ok(admin, 'message', { recipientId: '1', content: 'before the flood' });
  const roomId = first.message.roomId;
  await waitFor(reader, 'message', (m) => m.id === first.message.id);

  // Stop reading at the TCP level: the kernel buffers fill, then the
  // gateway's per-socket queue.
  const tcp = reader.io.engine.transport.ws._socket;
  tcp.pause();
  const N = 4000;
  const body = 'x'.repeat(3900);
  const sent = [];
  const WINDOW = 100;
  for (let i = 0; i < N; i += WINDOW) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + WINDOW); j++) {
      batch.push(ack(admin, 'message', { roomId, content: `${j} ${body}`, clientId: `flood-${j}` }));
    }
    for (const res of await Promise.all(batch)) {
      assert.equal(res.ok, true, JSON.stringify(res).slice(0, 200));
      sent.push(res.message.id);
    }
    // No need to go on once the gateway says the reader's queue overflowed.
    if (overflows((await gw.metrics()).text) > 0) break;
  }
  let reason = null;
  reader.once('disconnect', (r) => { reason = r; });
  tcp.resume();

  const last = sent[sent.length - 1];
  const outcome = await until(() => {
    if (received(reader, 'message', (m) => m.id === last).length) return { all: true };
    return reason ? { reason } : null;
  }, 'the reader got the last message or was disconnected', 60_000);
  t.diagnostic(outcome.all ? 'the reader got everything live' : `the reader was disconnected (${outcome.reason})`);
  const live = new Set(received(reader, 'message', (m) => m.roomId === roomId).map((m) => m.id));
  if (outcome.all) {
    // Everything arrived: nothing may be missing.
    const missing = sent.filter((id) => !live.has(id) && id !== last);
    assert.deepEqual(missing, [], 'a connected reader got every message');
    return;
  }
  // Disconnected: it must not have been left with a gap while connected, and
  // the reason says the server dropped it.
  assert.equal(outcome.reason, 'io server disconnect');
  assert.ok(overflows((await gw.metrics()).text) > 0, 'the overflow is counted');
  const resumed = once(reader, 'session', DEFAULT_TIMEOUT_MS * 2);
  reader.connect();
  await resumed;
  const synced = await syncAll(reader, first.message.id, roomId);
  const ids = synced.map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, 'sync has no duplicates');
  assert.deepEqual(ids, sent, 'sync gives back every message, in order');
  assert.ok(gw.alive());
});

test('a sender whose reads stall gets an ack for every message, or is disconnected and finds each message stored once', async (t) => {
  const gw = await gateway();
  const admin = await connect(gw, '9');
  const writer = await connect(gw, '1');
  const first = await ok(admin, 'message', { recipientId: '1', content: 'before the stall' });
  const roomId = first.message.roomId;
  await waitFor(writer, 'message', (m) => m.id === first.message.id);

  const tcp = writer.io.engine.transport.ws._socket;
  tcp.pause(); // it keeps sending, but reads nothing: acks and echoes pile up
  const N = 2000;
  const WAVE = 200; // within the per-socket inbox (256), so none is refused
  const body = 'y'.repeat(3900);
  const pending = [];
  let reason = null;
  writer.once('disconnect', (r) => { reason = r; });
  // Waves paced by what the admin (who reads) sees stored; stop sending once
  // the gateway reports the writer's queue overflowed.
  let sent = 0;
  while (sent < N) {
    for (let i = sent; i < sent + WAVE; i++) {
      pending.push(writer.timeout(60_000).emitWithAck('message', { roomId, content: `${i} ${body}`, clientId: `stall-${i}` })
        .then((res) => res, (err) => ({ lost: err.message })));
    }
    sent += WAVE;
    const last = `stall-${sent - 1}`;
    await until(() => received(admin, 'message', (m) => m.clientId === last).length, `${last} stored`, 30_000);
    if (overflows((await gw.metrics()).text) > 0) break;
  }
  tcp.resume();
  const results = await Promise.all(pending);
  const answered = results.filter((r) => !r.lost);
  for (const r of answered) assert.equal(r.ok, true, JSON.stringify(r).slice(0, 200));
  if (!reason && !writer.connected) reason = 'disconnected';
  t.diagnostic(`${answered.length} of ${sent} answered; ${reason ? `disconnected (${reason})` : 'still connected'}`);
  if (!reason) {
    assert.equal(answered.length, sent, 'a client that stays connected gets every ack');
  } else {
    assert.equal(reason, 'io server disconnect');
    const back = once(writer, 'session', DEFAULT_TIMEOUT_MS * 2);
    writer.connect();
    await back;
  }
  // What was not stored (no ack, or refused) is sent again with the same
  // clientId, as a client does: each message ends up stored exactly once.
  const again = results.map((r, i) => (r.ok ? null : i)).filter((i) => i !== null);
  for (let k = 0; k < again.length; k += 100) {
    await Promise.all(again.slice(k, k + 100).map((i) => ok(writer, 'message', { roomId, content: `${i} ${body}`, clientId: `stall-${i}` })));
  }
  const stored = (await syncAll(writer, first.message.id, roomId)).map((m) => m.clientId);
  assert.equal(stored.length, sent, 'every message stored');
  assert.equal(new Set(stored).size, sent, 'each one once');
});

test('a burst of events with acks gets exactly one ack each, whatever the event', async () => {
  const gw = await gateway();
  const s = await connect(gw, '9');
  const events = ['join', 'leave', 'message', 'message:edit', 'message:delete', 'message:react', 'read',
    'messages:history', 'sync', 'typing', 'typing:start', 'typing:stop', 'conversations:list',
    'conversation:create', 'users:search', 'support:start', 'support:end', 'support:rate',
    'agent:status', 'no-such-event'];
  const scalars = [1, 'x', true, null, 3.5, -1, '', 0];
  // socket.io-client keeps one callback per ack id and deletes it when the ack
  // comes: a second ack for the same id would be dropped by the client, so
  // count acks on the wire too.
  const ackIds = new Map();
  const onPacket = (packet) => {
    if (packet.type === 3) ackIds.set(packet.id, (ackIds.get(packet.id) || 0) + 1);
  };
  s.io.decoder?.on?.('decoded', onPacket);
  // Bursts as the attack sent them (a few hundred events, scalar payloads),
  // the cheap events first, then every event name.
  const rounds = [
    { n: 312, names: ['typing', 'join', 'message', 'sync'] },
    { n: 600, names: ['typing', 'join', 'message', 'sync'] },
    { n: 312, names: events },
  ];
  for (const { n, names } of rounds) {
    const pending = [];
    for (let i = 0; i < n; i++) {
      pending.push(s.timeout(20_000).emitWithAck(names[i % names.length], scalars[i % scalars.length]).then(
        (res) => res,
        (err) => ({ lost: err.message }),
      ));
    }
    const results = await Promise.all(pending);
    const lost = results.filter((r) => r && r.lost);
    assert.equal(lost.length, 0, `${lost.length} of ${n} events got no ack`);
    for (const r of results) assert.equal(typeof r, 'object', `every ack is an object: ${JSON.stringify(r)}`);
  }
  assert.ok([...ackIds.values()].every((n) => n === 1), 'no ack id answered twice');

  // 200 rapid messages: 200 acks (each also echoed to the sender's socket).
  const messages = [];
  for (let i = 0; i < 200; i++) {
    messages.push(s.timeout(20_000).emitWithAck('message', { recipientId: '1', content: `m${i}`, clientId: `burst-${i}` })
      .then((res) => res, (err) => ({ lost: err.message })));
  }
  const acks = await Promise.all(messages);
  assert.equal(acks.filter((r) => r.lost).length, 0, 'every message was acked');
  assert.equal(acks.filter((r) => r.ok).length, 200, 'every message was stored');
  await until(() => received(s, 'message', (m) => m.clientId && m.clientId.startsWith('burst-')).length === 200,
    'every echo arrived', 20_000);
  assert.equal(s.connected, true, 'a client that reads is never disconnected');
});
