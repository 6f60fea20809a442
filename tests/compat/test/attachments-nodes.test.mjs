// Attachments and push subscriptions across gateway nodes (issue 13 item 4):
// two nodes on one PostgreSQL database (COMPAT_DATABASE_URL; run by
// `COMPAT_STORE=postgres scripts/test-compat.sh`, skipped on SQLite) and one
// media directory both mount (--media-dir). An upload taken by node A is
// downloaded, with its thumbnail, through node B, by token and by the signed
// URL B's history carries; a user of another room is refused on B; the same
// bytes uploaded through B are kept once; a subscription made on A is removed
// on B; an upload nobody attached is swept by the other node, blob included.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { startGateway, connect, ok, directRoom, until } from '../lib/gateway.mjs';
import { png, upload, get, jpegSize, filesUnder } from '../lib/files.mjs';

const PG = process.env.COMPAT_DATABASE_URL;

/** Blob and thumbnail files (not the upload spool) under a media directory. */
function blobs(mediaDir) {
  const spool = path.join(mediaDir, 'attachments', 'tmp') + path.sep;
  return filesUnder(path.join(mediaDir, 'attachments')).filter((p) => !p.startsWith(spool));
}

/** Two nodes sharing a database, a JWT secret and a media directory. */
async function twoNodes(extraB = []) {
  const mediaDir = mkdtempSync(path.join(tmpdir(), 'seitech-chat-media-'));
  const a = await startGateway({ args: ['--media-dir', mediaDir] });
  const b = await startGateway({
    args: ['--media-dir', mediaDir, ...extraB],
    databaseUrl: a.databaseUrl,
    secret: a.secret,
  });
  b.keep(); // node A drops the shared database when it stops
  return { a, b, mediaDir };
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');

describe('attachments across gateway nodes', { skip: !PG && 'needs COMPAT_DATABASE_URL (PostgreSQL)' }, () => {
  let a, b, mediaDir;
  before(async () => { ({ a, b, mediaDir } = await twoNodes()); });
  after(async () => {
    await b?.stop();
    await a?.stop();
    if (mediaDir) rmSync(mediaDir, { recursive: true, force: true });
  });

  it('an upload through node A is downloaded, with its thumbnail, through node B; another room\'s user is refused', async () => {
    const ada = await connect(a, '1');
    const room = await directRoom(ada, '2');
    const image = png(640, 320);
    const up = await upload(a, a.token('1'), image, 'diagram.png');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const id = up.body.id;
    assert.ok(up.body.thumbnailUrl, 'an image gets a thumbnail');
    // The bytes are in the shared directory, not in node A's data directory.
    assert.equal(blobs(mediaDir).length, 2, 'one blob and one thumbnail in the media directory');
    assert.equal(blobs(a.dataDir).length, 0, 'nothing in node A\'s own data directory');

    const sent = await ok(ada, 'message', { roomId: room, content: 'see the diagram', attachments: [id] });
    assert.equal(sent.message.attachments[0].id, id);

    // Ian reads the room on node B: its history carries freshly signed URLs.
    const ian = await connect(b, '2');
    const history = await ok(ian, 'messages:history', { roomId: room, limit: 10 });
    const att = history.messages.find((m) => m.id === sent.message.id).attachments[0];
    const signed = await get(b, att.url);
    assert.equal(signed.status, 200);
    assert.deepEqual(signed.body, image);
    assert.equal(signed.headers.get('content-type'), 'image/png');
    const byToken = await get(b, `/api/chat/attachments/${id}`, { token: b.token('2') });
    assert.equal(byToken.status, 200);
    assert.deepEqual(byToken.body, image);
    const thumb = await get(b, att.thumbnailUrl);
    assert.equal(thumb.status, 200);
    assert.equal(thumb.headers.get('content-type'), 'image/jpeg');
    const { width, height } = jpegSize(thumb.body);
    assert.ok(width <= 320 && height <= 320 && width > 0, `thumbnail ${width}x${height}`);
    const thumbByToken = await get(b, `/api/chat/attachments/${id}/thumbnail`, { token: b.token('2') });
    assert.equal(thumbByToken.status, 200);
    assert.deepEqual(thumbByToken.body, thumb.body);

    // Ben is in no room where it was sent: refused on node B, as on A.
    for (const p of [`/api/chat/attachments/${id}`, `/api/chat/attachments/${id}/thumbnail`]) {
      const ben = await get(b, p, { token: b.token('3') });
      assert.equal(ben.status, 404, `${p}: not found for a stranger`);
      assert.equal(JSON.parse(ben.body).error.code, 'not_found');
    }
    const forged = await get(b, `/api/chat/attachments/${id}?exp=${Math.floor(Date.now() / 1000) + 60}&sig=AAAA`);
    assert.equal(forged.status, 403, 'a forged signature');
    const anonymous = await get(b, `/api/chat/attachments/${id}`);
    assert.equal(anonymous.status, 401);
    // Node B knows only what the store knows: an unknown id is not found.
    const unknown = await get(b, '/api/chat/attachments/0190c2c4-0000-7000-8000-000000000000', { token: b.token('9') });
    assert.equal(unknown.status, 404);
  });

  it('only the uploader attaches an upload, whichever node it sends through; the same bytes are kept once', async () => {
    const image = png(200, 100);
    const up = await upload(a, a.token('1'), image, 'mine.png');
    assert.equal(up.status, 201);
    const ian = await connect(b, '2');
    const room = await directRoom(ian, '1');
    const stolen = await ian.timeout(5000).emitWithAck('message', { roomId: room, content: '', attachments: [up.body.id] });
    assert.equal(stolen.ok, false);
    assert.equal(stolen.error.code, 'not_found');
    const before = blobs(mediaDir).length;
    const again = await upload(b, b.token('2'), image, 'copy.png');
    assert.equal(again.status, 201);
    assert.notEqual(again.body.id, up.body.id);
    assert.equal(blobs(mediaDir).length, before, 'the same bytes: no new blob');
    const sent = await ok(ian, 'message', { roomId: room, content: '', attachments: [again.body.id] });
    assert.equal(sent.message.type, 'file');
    const ada = await connect(a, '1');
    const got = await get(a, `/api/chat/attachments/${again.body.id}`, { token: a.token('1') });
    assert.equal(got.status, 200, 'node A serves node B\'s upload');
    assert.deepEqual(got.body, image);
    ada.disconnect();
  });

  it('a push subscription made on node A is removed on node B', async () => {
    const ecdh = crypto.createECDH('prime256v1');
    ecdh.generateKeys();
    const sub = {
      endpoint: `https://push.example/sub/${crypto.randomUUID()}`,
      keys: { p256dh: b64u(ecdh.getPublicKey()), auth: b64u(crypto.randomBytes(16)) },
    };
    const onA = await connect(a, '2');
    await ok(onA, 'push:subscribe', sub);
    const onB = await connect(b, '2');
    const other = await connect(b, '1');
    assert.deepEqual(await ok(other, 'push:unsubscribe', { endpoint: sub.endpoint }), { ok: true, removed: false }, 'not Ada\'s');
    assert.deepEqual(await ok(onB, 'push:unsubscribe', { endpoint: sub.endpoint }), { ok: true, removed: true });
    assert.deepEqual(await ok(onA, 'push:unsubscribe', { endpoint: sub.endpoint }), { ok: true, removed: false }, 'gone for node A too');
  });
});

describe('the attachment sweeper across gateway nodes', { skip: !PG && 'needs COMPAT_DATABASE_URL (PostgreSQL)' }, () => {
  let a, b, mediaDir;
  before(async () => {
    // Node B sweeps every second uploads older than a second; node A swept
    // once at start-up and not again for ten minutes.
    ({ a, b, mediaDir } = await twoNodes(['--attachment-max-age-secs', '1', '--attachment-sweep-interval-secs', '1']));
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    if (mediaDir) rmSync(mediaDir, { recursive: true, force: true });
  });

  it('an upload nobody attached on node A is removed by node B, its blob too', async () => {
    const up = await upload(a, a.token('1'), Buffer.from('never attached\n'), 'draft.txt');
    assert.equal(up.status, 201);
    await until(async () => (await get(a, `/api/chat/attachments/${up.body.id}`, { token: a.token('1') })).status === 404,
      'node B swept the upload', 20000, 200);
    await until(() => blobs(mediaDir).length === 0, 'its blob is gone from the shared directory', 5000);
  });
});
