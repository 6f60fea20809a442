// Anonymous denial of service (issue 11, items 5–12, 17): decompression
// bombs, upload quotas and the disk reserve, a full store, guest churn per
// client address, the transcript relay, X-Forwarded-For from untrusted
// peers, slowloris, push endpoints to internal addresses, guests naming
// themselves like staff. Each scenario starts its own gateway with the limit
// it is about set low.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import dns from 'node:dns/promises';
import crypto from 'node:crypto';
import { statSync, existsSync } from 'node:fs';
import path from 'node:path';
import {
  startGateway, connect, connectFails, ok, fails, until, untilConnections, uniq, once, waitFor,
  DEFAULT_TIMEOUT_MS,
} from '../lib/gateway.mjs';
import { upload, png } from '../lib/files.mjs';
import { startSmtp } from '../lib/smtp.mjs';

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A small PNG whose header declares w × h pixels: a decompression bomb's header. */
function declaredPng(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

const form = (name, email) => ({ name, email, queryType: 'technical_support' });

describe('uploads: decode bounds, quotas, disk reserve (items 5, 6)', () => {
  let gw;
  before(async () => {
    gw = await startGateway({
      args: ['--max-image-pixels', '1000000', '--guest-upload-quota-count', '2', '--guest-upload-quota-bytes', '200000'],
    });
  });
  after(async () => { await gw?.stop(); });

  it('an image whose header declares more pixels than allowed is refused before decoding', async () => {
    const alice = gw.token('1');
    // 9000 × 9000 in a few dozen bytes: the header alone refuses it.
    const bomb = await upload(gw, alice, declaredPng(9000, 9000), 'bomb.png', { type: 'image/png' });
    assert.equal(bomb.status, 413, JSON.stringify(bomb.body));
    assert.equal(bomb.body.error.code, 'too_large');
    assert.match(bomb.body.error.message, /1000000 pixels/);
    // just over the configured budget (1001 × 1000), and just within it
    const over = await upload(gw, alice, png(1001, 1000), 'over.png', { type: 'image/png' });
    assert.equal(over.status, 413, JSON.stringify(over.body));
    const within = await upload(gw, alice, png(1000, 1000), 'ok.png', { type: 'image/png' });
    assert.equal(within.status, 201, JSON.stringify(within.body));
    assert.ok(gw.alive());
    assert.match((await gw.metrics()).text, /chat_abuse_refused_total\{limit="image_pixels"\} 2/);
  });

  it('a guest has a small upload quota (count and bytes); a signed-in user a larger one', async () => {
    const g = await connect(gw, null);
    const token = g.session.guestToken;
    assert.equal((await upload(gw, token, Buffer.from('first note'), 'a.txt', { type: 'text/plain' })).status, 201);
    assert.equal((await upload(gw, token, Buffer.from('second note'), 'b.txt', { type: 'text/plain' })).status, 201);
    const third = await upload(gw, token, Buffer.from('third note'), 'c.txt', { type: 'text/plain' });
    assert.equal(third.status, 429, JSON.stringify(third.body));
    assert.equal(third.body.error.code, 'rate_limited');
    assert.match(third.body.error.message, /quota/);
    // bytes: another guest, one upload over the 200 kB budget
    const g2 = await connect(gw, null);
    const big = Buffer.alloc(150000, 'x');
    assert.equal((await upload(gw, g2.session.guestToken, big, 'big.txt', { type: 'text/plain' })).status, 201);
    const more = await upload(gw, g2.session.guestToken, big, 'big2.txt', { type: 'text/plain' });
    assert.equal(more.status, 429, JSON.stringify(more.body));
    // a signed-in user is not held to the guests' quota
    for (let i = 0; i < 3; i++) {
      const r = await upload(gw, gw.token('2'), Buffer.from(`note ${i}`), `n${i}.txt`, { type: 'text/plain' });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    g.disconnect();
    g2.disconnect();
  });

  it('uploads stop before the free-space reserve; messages still go through', async () => {
    const gw2 = await startGateway({ args: ['--upload-disk-reserve-bytes', String(2 ** 62)] });
    try {
      const r = await upload(gw2, gw2.token('1'), Buffer.from('hello'), 'a.txt', { type: 'text/plain' });
      assert.equal(r.status, 507, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'unavailable');
      const ada = await connect(gw2, '1');
      await ok(ada, 'message', { recipientId: '2', content: 'still works' });
    } finally {
      await gw2.stop();
    }
  });
});

describe('a full store (item 7)', () => {
  it('answers unavailable without SQLite\'s text, and /health reports the store full', async () => {
    const first = await startGateway();
    first.keep();
    const { dataDir, secret } = first;
    await first.stop();
    const db = path.join(dataDir, 'chat.db');
    let size = statSync(db).size;
    if (existsSync(`${db}-wal`)) size += statSync(`${db}-wal`).size;
    const gw = await startGateway({ dataDir, secret, args: ['--store-max-bytes', String(size + 16 * 4096)] });
    try {
      const ada = await connect(gw, '1');
      let refusal = null;
      for (let i = 0; i < 300 && !refusal; i++) {
        const res = await ada.timeout(DEFAULT_TIMEOUT_MS).emitWithAck('message', { recipientId: '2', content: `${i} ${'x'.repeat(3000)}` });
        if (!res.ok) refusal = res;
      }
      assert.ok(refusal, 'the capped store filled up');
      assert.equal(refusal.error.code, 'unavailable', JSON.stringify(refusal));
      assert.doesNotMatch(refusal.error.message, /disk is full|commit|sqlite|database/i);
      const h = await gw.health();
      assert.equal(h.status, 503);
      assert.equal(h.body.status, 'degraded');
      assert.equal(h.body.backends.store, 'full');
      // and it keeps refusing cleanly; the gateway is alive
      await fails(ada, 'unavailable', 'message', { recipientId: '2', content: 'y'.repeat(3000) });
      assert.ok(gw.alive());
    } finally {
      await gw.stop();
    }
  });
});

describe('guests per client address (item 8)', () => {
  let gw;
  before(async () => {
    gw = await startGateway({
      highRate: false,
      args: [
        '--rate-limit-loopback', '--connection-rate-per-minute', '10000',
        '--message-burst', '1000', '--message-rate-per-minute', '100000',
        '--guest-connections-per-ip', '3', '--guest-queue-per-ip', '1',
        '--guest-support-chats-per-ip-per-hour', '2', '--guest-messages-per-ip-per-minute', '3',
      ],
    });
  });
  after(async () => { await gw?.stop(); });

  it('caps the guest connections an address holds open; signed-in users are not counted', async () => {
    const guests = [await connect(gw, null), await connect(gw, null), await connect(gw, null)];
    const err = await connectFails(gw, {});
    assert.match(err.message, /Too many connections/);
    assert.match((await gw.metrics()).text, /chat_abuse_refused_total\{limit="guest_connections"\} 1/);
    const ada = await connect(gw, '1');
    guests.pop().disconnect();
    await untilConnections(gw, 3);
    guests.push(await connect(gw, null));
    for (const s of [...guests, ada]) s.disconnect();
    await untilConnections(gw, 0);
  });

  it('caps the queue one address occupies, the support chats it opens, and its guests\' messages', async () => {
    // No agent online: every chat waits in the queue.
    const a = await connect(gw, null);
    const b = await connect(gw, null);
    const ra = await ok(a, 'support:start', form('Ann Visitor', 'ann@example.org'));
    assert.equal(ra.status, 'queued');
    const blocked = await fails(b, 'rate_limited', 'support:start', form('Bob Visitor', 'bob@example.org'));
    assert.match(blocked.error.message, /waiting/);
    await ok(a, 'support:end', { roomId: ra.conversation.id });
    const rb = await ok(b, 'support:start', form('Bob Visitor', 'bob@example.org'));
    assert.equal(rb.status, 'queued');
    // messages: 3 a minute for all guests of the address together
    await ok(b, 'message', { roomId: rb.conversation.id, content: 'one' });
    await ok(b, 'message', { roomId: rb.conversation.id, content: 'two' });
    await ok(b, 'message', { roomId: rb.conversation.id, content: 'three' });
    await fails(b, 'rate_limited', 'message', { roomId: rb.conversation.id, content: 'four' });
    await ok(b, 'support:end', { roomId: rb.conversation.id });
    // two chats this hour from this address: the third is refused
    const c = await connect(gw, null);
    const third = await fails(c, 'rate_limited', 'support:start', form('Cy Visitor', 'cy@example.org'));
    assert.match(third.error.message, /support chats/);
    for (const s of [a, b, c]) s.disconnect();
  });

  it('a guest that never did anything leaves no user behind; one that filled in the form is a user', async () => {
    const idle = await connect(gw, null);
    const idleId = idle.session.userId;
    idle.disconnect();
    await untilConnections(gw, 0);
    const admin = await connect(gw, '9');
    // an admin's user search (by exact id) finds stored and known users
    const found = async (id) => (await ok(admin, 'users:search', { query: id })).users.map((u) => u.id);
    assert.deepEqual(await found(idleId), [], 'the idle guest is not a user');
    const gw2 = await startGateway();
    try {
      const v = await connect(gw2, null);
      await ok(v, 'support:start', form('Fay Visitor', 'fay@example.org'));
      const admin2 = await connect(gw2, '9');
      assert.deepEqual((await ok(admin2, 'users:search', { query: v.session.userId })).users.map((u) => u.id), [v.session.userId]);
    } finally {
      await gw2.stop();
    }
    admin.disconnect();
  });
});

describe('transcripts are not an open relay (item 9)', () => {
  let gw, smtp;
  before(async () => {
    smtp = await startSmtp();
    gw = await startGateway({ args: ['--smtp-url', smtp.url, '--mail-from', 'chat@seitech.test', '--transcripts-per-hour', '2'] });
  });
  after(async () => { await gw?.stop(); await smtp?.close(); });

  it('go only to the pre-chat form\'s email, at most the configured number per visitor', async () => {
    const v = await connect(gw, null);
    const r1 = await ok(v, 'support:start', form('Tess Visitor', 'tess@example.org'));
    await fails(v, 'forbidden', 'support:transcript', { roomId: r1.conversation.id, email: 'victim@example.net' });
    await ok(v, 'support:transcript', { roomId: r1.conversation.id, email: 'TESS@example.org' });
    await ok(v, 'support:end', { roomId: r1.conversation.id });
    const r2 = await ok(v, 'support:start', form('Tess Visitor', 'tess@example.org'));
    await ok(v, 'support:transcript', { roomId: r2.conversation.id });
    // a third this hour from the same visitor, in another chat: refused
    await fails(v, 'rate_limited', 'support:transcript', { roomId: r2.conversation.id });
    const mails = await smtp.waitForMails(2);
    assert.deepEqual(mails.map((m) => m.to), [['TESS@example.org'], ['tess@example.org']]);
    assert.equal(smtp.mails.length, 2, 'nothing went to the address the visitor wrote');
    v.disconnect();
  });
});

describe('client address behind proxies (item 10)', () => {
  const guestFrom = (gw, forwardedFor) => connect(gw, null, {
    transports: ['websocket'], extraHeaders: { 'X-Forwarded-For': forwardedFor },
  });

  it('X-Forwarded-For from a peer that is not a trusted proxy is ignored', async () => {
    const gw = await startGateway({
      args: ['--rate-limit-loopback', '--guest-connections-per-ip', '1', '--trusted-proxies', '10.9.9.9/32'],
    });
    try {
      const a = await guestFrom(gw, '203.0.113.5');
      const err = await connectFails(gw, {}, { transports: ['websocket'], extraHeaders: { 'X-Forwarded-For': '203.0.113.6' } });
      assert.match(err.message, /Too many connections/, 'both are 127.0.0.1 whatever they claim');
      a.disconnect();
    } finally {
      await gw.stop();
    }
  });

  it('from a trusted proxy, the forwarded client address counts', async () => {
    const gw = await startGateway({
      args: ['--rate-limit-loopback', '--guest-connections-per-ip', '1', '--trusted-proxies', '127.0.0.1/32'],
    });
    try {
      const a = await guestFrom(gw, '203.0.113.5');
      const b = await guestFrom(gw, '198.51.100.7, 203.0.113.6');
      const err = await connectFails(gw, {}, { transports: ['websocket'], extraHeaders: { 'X-Forwarded-For': '203.0.113.5' } });
      assert.match(err.message, /Too many connections/);
      a.disconnect();
      b.disconnect();
    } finally {
      await gw.stop();
    }
  });
});

describe('slowloris (item 11)', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ args: ['--http-header-timeout-secs', '1', '--http-idle-timeout-secs', '2', '--upload-timeout-secs', '3'] });
  });
  after(async () => { await gw?.stop(); });

  /** Resolves with how the server ended the connection: 'closed' or the data it sent. */
  function endOf(sock, ms) {
    return new Promise((resolve) => {
      let data = '';
      const timer = setTimeout(() => { sock.destroy(); resolve('still open'); }, ms);
      sock.on('data', (d) => { data += d; });
      sock.on('close', () => { clearTimeout(timer); resolve(data ? `closed after: ${data.split('\r\n')[0]}` : 'closed'); });
      sock.on('error', () => {});
    });
  }

  it('a connection that never finishes its request head is closed', async () => {
    const sock = net.connect(gw.port, '127.0.0.1');
    await once(sock, 'connect');
    sock.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    // one more header line a while later: trickling does not extend the deadline
    const trickle = setInterval(() => { if (!sock.destroyed) sock.write('X-A: b\r\n'); }, 300);
    const end = await endOf(sock, 8000);
    clearInterval(trickle);
    assert.match(end, /^closed/, end);
  });

  it('a connection that sends nothing is closed; a complete request is answered', async () => {
    const idle = net.connect(gw.port, '127.0.0.1');
    await once(idle, 'connect');
    assert.match(await endOf(idle, 8000), /^closed/);
    const h = await gw.health();
    assert.equal(h.status, 200);
  });

  it('a request body that stops arriving is cut off by the idle timeout', async () => {
    const sock = net.connect(gw.port, '127.0.0.1');
    await once(sock, 'connect');
    sock.write(`POST /api/chat/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.token('1')}\r\n` +
      'Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n--XX\r\n');
    const end = await endOf(sock, 10000);
    assert.notEqual(end, 'still open');
  });

  it('an upload whose body trickles in (never idle long enough) is cut off with 408', async () => {
    const sock = net.connect(gw.port, '127.0.0.1');
    await once(sock, 'connect');
    sock.write(`POST /api/chat/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${gw.token('1')}\r\n` +
      'Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 100000\r\n\r\n' +
      '--XX\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n');
    // a byte every 500 ms: under the 2 s idle timeout, for ever
    const trickle = setInterval(() => { if (!sock.destroyed) sock.write('x'); }, 500);
    const end = await endOf(sock, 10000);
    clearInterval(trickle);
    assert.match(end, /408/, end);
  });
});

describe('push endpoints (item 12)', () => {
  let gw, vapid;
  before(async () => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    vapid = privateKey.export({ format: 'jwk' }).d;
    gw = await startGateway({ args: [`--vapid-private-key=${vapid}`] });
  });
  after(async () => { await gw?.stop(); });

  function keys() {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') };
  }

  it('internal addresses are refused at subscribe', async () => {
    const ada = await connect(gw, '1');
    for (const endpoint of [
      'https://127.0.0.1:9/x', 'https://169.254.169.254/latest/meta-data', 'https://10.0.0.5/x',
      'https://[::1]/x', 'https://localhost/x', 'http://push.example.org/x',
    ]) {
      await fails(ada, 'invalid', 'push:subscribe', { endpoint, keys: keys() });
    }
    ada.disconnect();
  });

  it('a name that resolves to an internal address is refused at send time, never contacted', async () => {
    // The machine's own name: a name (so subscribe cannot tell), resolving
    // to a loopback or private address.
    const name = os.hostname();
    const { address } = await dns.lookup(name);
    assert.ok(/^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$|f[cd])/.test(address), `${name} resolves to ${address}`);
    const contacted = [];
    const trap = net.createServer((s) => { contacted.push(s.remoteAddress); s.destroy(); });
    await new Promise((r) => trap.listen(0, address, r));
    try {
      const ian = await connect(gw, '2');
      await ok(ian, 'push:subscribe', { endpoint: `https://${name}:${trap.address().port}/sub/ian`, keys: keys() });
      const ada = await connect(gw, '1');
      await ok(ada, 'message', { recipientId: '2', content: 'hello' });
      ian.disconnect();
      await waitFor(ada, 'user:offline', (u) => u === '2');
      await ok(ada, 'message', { recipientId: '2', content: uniq('are you there') });
      const failed = () => gw.metrics().then((m) => /chat_notifications_total\{channel="push",result="failed"\} [1-9]/.test(m.text));
      await until(failed, 'the push attempt failed', 8000, 100);
      assert.deepEqual(contacted, [], 'the gateway never connected to the internal address');
      ada.disconnect();
    } finally {
      await new Promise((r) => trap.close(r));
    }
  });
});

describe('guests cannot name themselves like staff (item 17)', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('reserved words in a guest\'s pre-chat name are refused; a signed-in user keeps its own name', async () => {
    const g = await connect(gw, null);
    for (const name of ['Seitech Support', 'admin', 'SUPP0RT team', 'Your Agent']) {
      const res = await fails(g, 'invalid', 'support:start', form(name, 'x@example.org'));
      assert.match(res.error.message, /^name:/);
    }
    await ok(g, 'support:start', form('Stafford Sargent', 'x@example.org'));
    g.disconnect();
  });
});
