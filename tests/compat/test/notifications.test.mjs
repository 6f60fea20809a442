// §7 offline notifications: push:subscribe and push:unsubscribe (the
// caller's own subscription only), Web Push to a local push service
// started here (the VAPID JWT's ES256 signature is verified and the aes128gcm
// payload decrypted per RFC 8291), at most one per conversation per window,
// nothing to guests, nothing to connected users.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import {
  startGateway, connect, ok, fails, waitFor, directRoom, until, uniq,
} from '../lib/gateway.mjs';

const b64u = (buf) => Buffer.from(buf).toString('base64url');

/** A local push service: records every request, answers 201. */
async function startPushService() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      requests.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(201).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, requests, close: () => new Promise((r) => server.close(r)) };
}

/** A browser's push subscription: its ECDH key pair and auth secret. */
function browserSubscription(endpoint) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  return {
    ecdh, auth,
    wire: { endpoint, keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(auth) } },
  };
}

/** RFC 8291 / 8188 aes128gcm decryption of one push message body. */
function decrypt(sub, body) {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  assert.equal(idlen, 65, 'keyid is the server\'s uncompressed P-256 key');
  assert.ok(ciphertext.length <= rs, 'one record');
  const ecdhSecret = sub.ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), sub.ecdh.getPublicKey(), asPublic]);
  const ikm = Buffer.from(crypto.hkdfSync('sha256', ecdhSecret, sub.auth, keyInfo, 32));
  const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const tag = ciphertext.subarray(ciphertext.length - 16);
  const d = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(tag);
  const padded = Buffer.concat([d.update(ciphertext.subarray(0, ciphertext.length - 16)), d.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  assert.equal(padded[end], 2, 'last record delimiter');
  return JSON.parse(padded.subarray(0, end).toString('utf8'));
}

/** Checks `Authorization: vapid t=<jwt>, k=<key>`: ES256 over the JWT with the gateway's key. */
function verifyVapid(headers, vapidPublic, audience) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(headers.authorization || '');
  assert.ok(m, `VAPID Authorization header: ${headers.authorization}`);
  const [, jwt, k] = m;
  assert.equal(k, b64u(vapidPublic), 'k is the gateway\'s VAPID public key');
  const [h, p, s] = jwt.split('.');
  assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')), { typ: 'JWT', alg: 'ES256' });
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: b64u(vapidPublic.subarray(1, 33)), y: b64u(vapidPublic.subarray(33)) },
    format: 'jwk',
  });
  const valid = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  assert.equal(valid, true, 'the VAPID JWT signature verifies');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  assert.equal(claims.aud, audience);
  assert.ok(claims.exp > Date.now() / 1000 && claims.exp <= Date.now() / 1000 + 24 * 3600 + 60, `exp ${claims.exp}`);
  assert.match(claims.sub, /^(mailto:|https:)/);
  assert.equal(headers['content-encoding'], 'aes128gcm');
  assert.ok(Number(headers.ttl) > 0);
}

describe('offline notifications (Web Push)', () => {
  let gw, push, vapidPublic, ada, admin;
  before(async () => {
    push = await startPushService();
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' });
    const pub = publicKey.export({ format: 'jwk' });
    vapidPublic = Buffer.concat([Buffer.from([4]), Buffer.from(pub.x, 'base64url'), Buffer.from(pub.y, 'base64url')]);
    gw = await startGateway({
      args: [`--vapid-private-key=${jwk.d}`, '--push-allow-http', '--vapid-subject', 'mailto:ops@example.org'],
    });
    ada = await connect(gw, '1');
    admin = await connect(gw, '9');
  });
  after(async () => { await gw?.stop(); await push?.close(); });

  it('push:subscribe validates, refuses guests, and acks with the VAPID public key', async () => {
    const eve = await connect(gw, '11');
    const sub = browserSubscription(`${push.origin}/sub/check`);
    const res = await ok(eve, 'push:subscribe', sub.wire);
    assert.equal(res.publicKey, b64u(vapidPublic));
    const key = await (await fetch(`${gw.url}/api/chat/push/key`)).json();
    assert.equal(key.publicKey, b64u(vapidPublic));
    await fails(eve, 'invalid', 'push:subscribe', { endpoint: 'ftp://x/y', keys: sub.wire.keys });
    await fails(eve, 'invalid', 'push:subscribe', { endpoint: `${push.origin}/x`, keys: { p256dh: 'abc', auth: 'def' } });
    await fails(eve, 'invalid', 'push:subscribe', 'nope');
    const guest = await connect(gw, null);
    await fails(guest, 'forbidden', 'push:subscribe', sub.wire);
  });

  it('an offline participant gets one encrypted, VAPID-signed push per conversation per window', async () => {
    // Ian subscribes, then closes his last tab
    const ian = await connect(gw, '2');
    const sub = browserSubscription(`${push.origin}/sub/ian`);
    await ok(ian, 'push:subscribe', sub.wire);
    const room = await directRoom(ada, '2');
    ian.disconnect();
    await waitFor(ada, 'user:offline', (u) => u === '2');
    const start = push.requests.length;

    const first = await ok(ada, 'message', { roomId: room, content: uniq('are you there?') });
    await until(() => push.requests.length > start, 'the push service got a request', 5000);
    const req = push.requests[start];
    assert.equal(req.url, '/sub/ian');
    verifyVapid(req.headers, vapidPublic, push.origin);
    const payload = decrypt(sub, req.body);
    assert.equal(payload.roomId, room);
    assert.equal(payload.messageId, first.message.id);
    assert.equal(payload.body, first.message.content);
    assert.match(payload.title, /Ada Student/);

    // a second message in the same conversation within the window: no push.
    // Marker: a message in another conversation (admin → Ian) is pushed, and
    // it is the only further request.
    await ok(ada, 'message', { roomId: room, content: uniq('hello again') });
    const other = await ok(admin, 'message', { recipientId: '2', content: uniq('from admin') });
    await until(() => push.requests.length > start + 1, 'the second push', 5000);
    assert.equal(push.requests.length, start + 2, 'exactly one more push');
    const second = decrypt(sub, push.requests[start + 1].body);
    assert.equal(second.messageId, other.message.id, 'the suppressed message was not pushed');
    const metrics = (await gw.metrics()).text;
    assert.match(metrics, /chat_notifications_total\{channel="push",result="sent"\} [2-9]/);
    assert.match(metrics, /chat_notifications_total\{channel="any",result="rate_limited"\} [1-9]/);
  });

  it('push:unsubscribe validates, and removes the caller\'s own subscription only', async () => {
    // Dan (6) subscribes; Eve (a student) and Ruth (an admin) know his
    // endpoint and try to remove it. Jill (7) is the witness: in a group with
    // Dan, she is notified after him by the same task, so once her push has
    // arrived, Dan's (if any) has too.
    const dan = await connect(gw, '6');
    const jill = await connect(gw, '7');
    const eve = await connect(gw, '11');
    const ruth = await connect(gw, '10');
    const danSub = browserSubscription(`${push.origin}/sub/dan`);
    const jillSub = browserSubscription(`${push.origin}/sub/jill`);
    await ok(dan, 'push:subscribe', danSub.wire);
    await ok(jill, 'push:subscribe', jillSub.wire);

    await fails(eve, 'invalid', 'push:unsubscribe', {});
    await fails(eve, 'invalid', 'push:unsubscribe', { endpoint: 42 });
    await fails(eve, 'invalid', 'push:unsubscribe', { endpoint: '' });
    await fails(eve, 'invalid', 'push:unsubscribe', 'nope');
    await fails(eve, 'too_large', 'push:unsubscribe', { endpoint: `${push.origin}/${'x'.repeat(3000)}` });
    await fails(await connect(gw, null), 'forbidden', 'push:unsubscribe', { endpoint: danSub.wire.endpoint });
    // Someone else's endpoint: acked like an endpoint one never had, nothing removed.
    assert.deepEqual(await ok(eve, 'push:unsubscribe', { endpoint: danSub.wire.endpoint }), { ok: true, removed: false });
    assert.deepEqual(await ok(ruth, 'push:unsubscribe', danSub.wire), { ok: true, removed: false });

    const offline = async () => {
      const gone = [waitFor(admin, 'user:offline', (u) => u === '6'), waitFor(admin, 'user:offline', (u) => u === '7')];
      dan.disconnect();
      jill.disconnect();
      await Promise.all(gone);
    };
    const group = async () => (await ok(admin, 'conversation:create', { type: 'group', participantIds: ['6', '7'], name: uniq('push group') })).conversation.id;
    const g1 = await group();
    await offline();
    let start = push.requests.length;
    await ok(admin, 'message', { roomId: g1, content: uniq('to Dan and Jill') });
    await until(() => push.requests.slice(start).some((r) => r.url === '/sub/jill'), 'the push to Jill', 5000);
    assert.deepEqual(push.requests.slice(start).map((r) => r.url), ['/sub/dan', '/sub/jill'],
      'Dan\'s subscription survived the others\' attempts');

    // Dan removes his own: removed once, then there is nothing left to remove.
    await dan.connect();
    await jill.connect();
    await waitFor(dan, 'session');
    await waitFor(jill, 'session');
    assert.deepEqual(await ok(dan, 'push:unsubscribe', { endpoint: danSub.wire.endpoint }), { ok: true, removed: true });
    assert.deepEqual(await ok(dan, 'push:unsubscribe', { endpoint: danSub.wire.endpoint }), { ok: true, removed: false });
    const g2 = await group();
    await offline();
    start = push.requests.length;
    await ok(admin, 'message', { roomId: g2, content: uniq('to Dan and Jill again') });
    await until(() => push.requests.slice(start).some((r) => r.url === '/sub/jill'), 'the second push to Jill', 5000);
    assert.deepEqual(push.requests.slice(start).map((r) => r.url), ['/sub/jill'], 'nothing to Dan any more');
  });

  it('connected users and guests get no push', async () => {
    const ben = await connect(gw, '3');
    const sub = browserSubscription(`${push.origin}/sub/ben`);
    await ok(ben, 'push:subscribe', sub.wire);
    const room = await directRoom(admin, '3');
    await waitFor(ben, 'message', (m) => m.roomId === room);
    // Ben is online: nothing; then a marker to Ian (offline, other room, new window)
    const before = push.requests.length;
    await ok(admin, 'message', { roomId: room, content: uniq('online') });
    await waitFor(ben, 'message', (m) => m.roomId === room);
    // support chat with a guest: the guest never gets anything
    const guest = await connect(gw, null);
    await ok(guest, 'support:start', { name: 'Vic', email: 'vic@example.org', queryType: 'other', message: 'hi' });
    guest.disconnect();
    const marker = browserSubscription(`${push.origin}/sub/marker`);
    const cleo = await connect(gw, '4');
    await ok(cleo, 'push:subscribe', marker.wire);
    const cleoRoom = await directRoom(admin, '4');
    cleo.disconnect();
    await waitFor(admin, 'user:offline', (u) => u === '4');
    await ok(admin, 'message', { roomId: cleoRoom, content: uniq('marker') });
    await until(() => push.requests.some((r) => r.url === '/sub/marker'), 'the marker push', 5000);
    const since = push.requests.slice(before);
    assert.deepEqual(since.map((r) => r.url), ['/sub/marker'], 'only the offline user was pushed');
  });
});
