// §8 attachments: upload checked by content, attach to a message, download by
// participants only (token or signed URL), safe headers, ranges, thumbnails,
// refusals that keep nothing, the size cap without the server buffering the
// body, URLs re-signed wherever a stored message goes out again, and the
// sweeper of uploads nobody attached.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  startGateway, connect, ok, fails, waitFor, directRoom, until, assertHealthy,
} from '../lib/gateway.mjs';
import { png, pdf, mp4, webm, exe, zip, elf, upload, get, jpegSize, filesUnder } from '../lib/files.mjs';

const LIMIT = 2 * 1024 * 1024;

function blobFiles(dataDir) {
  return filesUnder(path.join(dataDir, 'attachments'));
}

function rssKb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

describe('attachments', () => {
  let gw, ada, ian, ben, room, tAda, tIan, tBen, tAdmin;
  before(async () => {
    gw = await startGateway({ args: ['--max-upload-bytes', String(LIMIT)] });
    ada = await connect(gw, '1');
    ian = await connect(gw, '2');
    ben = await connect(gw, '3');
    room = await directRoom(ada, '2');
    await waitFor(ian, 'message', (m) => m.roomId === room);
    [tAda, tIan, tBen, tAdmin] = ['1', '2', '3', '9'].map((u) => gw.token(u));
  });
  after(async () => { await gw?.stop(); });

  it('upload → attach → participants download it; others do not', async () => {
    const text = Buffer.from('Lecture notes, week 1\nAll good.\n');
    const up = await upload(gw, tAda, text, 'notes.txt', { type: 'text/html' });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const a = up.body;
    assert.equal(a.mimeType, 'text/plain', 'type by content, not by the declared type');
    assert.equal(a.size, text.length);
    assert.equal(a.name, 'notes.txt');
    assert.match(a.url, new RegExp(`^/api/chat/attachments/${a.id}\\?exp=\\d+&sig=`));

    // only the uploader may attach it
    await fails(ian, 'not_found', 'message', { roomId: room, content: '', attachments: [a.id] });
    const sent = await ok(ada, 'message', { roomId: room, content: '', attachments: [a.id] });
    assert.equal(sent.message.type, 'file', 'no text: a file message');
    assert.equal(sent.message.attachments.length, 1);
    assert.equal(sent.message.attachments[0].id, a.id);
    const got = await waitFor(ian, 'message', (m) => m.id === sent.message.id);
    const att = got.attachments[0];

    // the participant: by token and by the signed URL the message carries
    const byToken = await get(gw, `/api/chat/attachments/${a.id}`, { token: tIan });
    assert.equal(byToken.status, 200);
    assert.deepEqual(byToken.body, text);
    const bySigned = await get(gw, att.url);
    assert.equal(bySigned.status, 200);
    assert.deepEqual(bySigned.body, text);
    assert.equal(bySigned.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.match(bySigned.headers.get('content-disposition'), /^attachment; filename="notes.txt"/);
    assert.equal(bySigned.headers.get('x-content-type-options'), 'nosniff');
    assert.match(bySigned.headers.get('content-security-policy'), /default-src 'none'/);
    assert.match(bySigned.headers.get('content-security-policy'), /sandbox/);

    // an admin may; a non-participant may not, nor may anyone without credentials
    assert.equal((await get(gw, `/api/chat/attachments/${a.id}`, { token: tAdmin })).status, 200);
    const stranger = await get(gw, `/api/chat/attachments/${a.id}`, { token: tBen });
    assert.ok([403, 404].includes(stranger.status), `non-participant got ${stranger.status}`);
    assert.equal(stranger.body.toString().includes('Lecture'), false);
    assert.equal((await get(gw, `/api/chat/attachments/${a.id}`)).status, 401);
    // a tampered or expired signature is refused
    const bad = att.url.replace(/sig=[^&]+/, 'sig=AAAA');
    assert.equal((await get(gw, bad)).status, 403);
    const expired = att.url.replace(/exp=\d+/, 'exp=1000');
    assert.equal((await get(gw, expired)).status, 403);
    // Ben cannot use Ada's upload either
    await fails(ben, 'not_found', 'message', { recipientId: '2', content: 'x', attachments: [a.id] });

    // history carries working, freshly signed URLs
    const hist = await ok(ian, 'messages:history', { roomId: room, limit: 5 });
    const h = hist.messages.find((m) => m.id === sent.message.id);
    assert.equal((await get(gw, h.attachments[0].url)).status, 200);
  });

  it('an unattached upload is readable by its uploader only', async () => {
    const up = await upload(gw, tAda, Buffer.from('draft'), 'draft.txt');
    assert.equal(up.status, 201);
    assert.equal((await get(gw, `/api/chat/attachments/${up.body.id}`, { token: tAda })).status, 200);
    const other = await get(gw, `/api/chat/attachments/${up.body.id}`, { token: tIan });
    assert.ok([403, 404].includes(other.status));
  });

  it('uploads need a valid Bearer token; a guest token works', async () => {
    const none = await upload(gw, null, Buffer.from('hi'), 'a.txt');
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'unauthorized');
    assert.equal((await upload(gw, 'garbage', Buffer.from('hi'), 'a.txt')).status, 401);
    const guest = await connect(gw, null);
    const g = await upload(gw, guest.session.guestToken, Buffer.from('guest notes'), 'g.txt');
    assert.equal(g.status, 201, JSON.stringify(g.body));
  });

  it('every accepted kind is recognised by content, whatever the name', async () => {
    const cases = [
      [png(20, 10), 'photo.dat', 'image/png', 'photo.dat.png'],
      [pdf(), 'doc.PDF', 'application/pdf', 'doc.pdf'],
      [mp4(), 'clip.mp4', 'video/mp4', 'clip.mp4'],
      [webm(), 'clip', 'video/webm', 'clip.webm'],
      [Buffer.from('plain ünïcode text\n'), '../../etc/passwd', 'text/plain', 'passwd.txt'],
    ];
    for (const [bytes, name, mime, saved] of cases) {
      const up = await upload(gw, tAda, bytes, name);
      assert.equal(up.status, 201, `${name}: ${JSON.stringify(up.body)}`);
      assert.equal(up.body.mimeType, mime, name);
      assert.equal(up.body.name, saved, name);
      const dl = await get(gw, up.body.url);
      assert.equal(dl.headers.get('content-type').split(';')[0], mime);
      const inline = mime.startsWith('image/') || mime.startsWith('video/');
      assert.match(dl.headers.get('content-disposition'), inline ? /^inline;/ : /^attachment;/);
    }
  });

  it('refused types: 415 with a JSON error, and nothing is kept', async () => {
    const before = blobFiles(gw.dataDir).length;
    const refusedBefore = /chat_attachment_uploads_total\{result="refused"\} (\d+)/.exec((await gw.metrics()).text)[1];
    const polyglotPng = Buffer.concat([png(8, 8), zip()]);
    const pngThenHtml = Buffer.concat([png(8, 8), Buffer.from('<html><script>alert(1)</script></html>')]);
    const fakePng = Buffer.concat([png(8, 8).subarray(0, 8), Buffer.from('<html>not an image</html>')]);
    const cases = [
      [exe(), 'setup.png', 'image/png'],
      [elf(), 'tool.txt', 'text/plain'],
      [zip(), 'archive.pdf', 'application/pdf'],
      [polyglotPng, 'gifar.png', 'image/png'],
      [pngThenHtml, 'x.png', 'image/png'],
      [fakePng, 'fake.png', 'image/png'],
      [Buffer.from([0, 1, 2, 3, 255, 254, 0, 0]), 'bin.txt', 'text/plain'],
      [Buffer.alloc(0), 'empty.txt', 'text/plain'],
    ];
    for (const [bytes, name, type] of cases) {
      const up = await upload(gw, tAda, bytes, name, { type });
      assert.equal(up.status, 415, `${name} should be refused, got ${up.status} ${JSON.stringify(up.body)}`);
      assert.equal(typeof up.body.error.code, 'string');
      assert.equal(typeof up.body.error.message, 'string');
    }
    assert.equal(blobFiles(gw.dataDir).length, before, 'no blob or temp file kept');
    const refusedAfter = /chat_attachment_uploads_total\{result="refused"\} (\d+)/.exec((await gw.metrics()).text)[1];
    assert.equal(Number(refusedAfter) - Number(refusedBefore), cases.length);
    assert.match((await gw.metrics()).text, /chat_attachment_uploads_total\{result="stored"\} [1-9]/);
  });

  it('the same bytes are stored once', async () => {
    const bytes = png(33, 17);
    const a = await upload(gw, tAda, bytes, 'a.png');
    const before = blobFiles(gw.dataDir).length;
    const b = await upload(gw, tIan, bytes, 'b.png');
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    assert.notEqual(a.body.id, b.body.id);
    assert.equal(blobFiles(gw.dataDir).length, before, 'no second blob');
  });

  it('range requests: 206 with exactly the asked bytes', async () => {
    const video = mp4(100_000);
    const up = await upload(gw, tAda, video, 'lecture.mp4');
    assert.equal(up.status, 201);
    const r = await get(gw, up.body.url, { headers: { Range: 'bytes=1000-1999' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), `bytes 1000-1999/${video.length}`);
    assert.deepEqual(r.body, video.subarray(1000, 2000));
    const tail = await get(gw, up.body.url, { headers: { Range: 'bytes=-10' } });
    assert.equal(tail.status, 206);
    assert.deepEqual(tail.body, video.subarray(video.length - 10));
    const whole = await get(gw, up.body.url);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    assert.deepEqual(whole.body, video);
    const beyond = await get(gw, up.body.url, { headers: { Range: `bytes=${video.length + 10}-` } });
    assert.equal(beyond.status, 416);
  });

  it('images get a JPEG thumbnail of at most 320 px', async () => {
    const up = await upload(gw, tAda, png(800, 400), 'wide.png');
    assert.equal(up.status, 201);
    assert.match(up.body.thumbnailUrl, /\/thumbnail\?exp=\d+&sig=/);
    const t = await get(gw, up.body.thumbnailUrl);
    assert.equal(t.status, 200);
    assert.equal(t.headers.get('content-type'), 'image/jpeg');
    assert.deepEqual(jpegSize(t.body), { width: 320, height: 160 });
    const small = await upload(gw, tAda, png(40, 90), 'tall.png');
    const ts = await get(gw, small.body.thumbnailUrl);
    const size = jpegSize(ts.body);
    assert.ok(size.width <= 320 && size.height <= 320);
    const doc = await upload(gw, tAda, pdf(), 'x.pdf');
    assert.equal(doc.body.thumbnailUrl, undefined, 'no thumbnail for a PDF');
  });

  it('over the size limit: 413, nothing kept, and the body is never held in memory', async () => {
    const before = blobFiles(gw.dataDir).length;
    const pid = gw.proc.pid;
    const rssBefore = rssKb(pid);
    const total = 40 * 1024 * 1024;
    const boundary = 'x-boundary-' + Date.now();
    const status = await new Promise((resolve, reject) => {
      const u = new URL('/api/chat/attachments', gw.url);
      const req = http.request({
        host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
        headers: {
          Authorization: `Bearer ${tAda}`,
          'Content-Type': `multipart/form-data; boundary=${boundary}`,
          'Transfer-Encoding': 'chunked',
        },
      });
      const timer = setTimeout(() => { req.destroy(); reject(new Error('no answer within 30 s')); }, 30000);
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => { clearTimeout(timer); resolve(res.statusCode); });
      });
      req.on('error', (e) => { clearTimeout(timer); reject(e); });
      const piece = Buffer.alloc(64 * 1024, 0x61);
      let sent = 0;
      const pump = () => {
        if (sent === 0) req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n`);
        while (sent < total) {
          sent += piece.length;
          if (!req.write(piece)) { req.once('drain', pump); return; }
        }
        req.end(`\r\n--${boundary}--\r\n`);
      };
      pump();
    });
    assert.equal(status, 413);
    const grewKb = rssKb(pid) - rssBefore;
    assert.ok(grewKb < 16 * 1024, `RSS grew by ${grewKb} kB for a ${total / 1024} kB body`);
    assert.equal(blobFiles(gw.dataDir).length, before, 'nothing kept');
    // a plain fetch with a body just over the limit
    const over = await upload(gw, tAda, Buffer.alloc(LIMIT + 1, 0x62), 'over.txt');
    assert.equal(over.status, 413);
    assert.equal(over.body.error.code, 'too_large');
    const exact = await upload(gw, tAda, Buffer.alloc(LIMIT, 0x62), 'exact.txt');
    assert.equal(exact.status, 201, 'exactly the limit is fine');
    await assertHealthy(gw);
  });
});

describe('stored messages carry freshly signed attachment URLs', () => {
  // Signed URLs live 2 s here (--attachment-url-ttl-secs), so that the URL a
  // message was sent with expires within the test. Every way a stored
  // message goes out again must carry a URL that still downloads.
  const TTL_SECS = 2;
  const text = Buffer.from('Slides for the exam\n');
  let gw, ada, ian, room, sent, clientId;
  const downloads = async (url, what) => {
    assert.match(url, /\?exp=\d+&sig=/, `${what}: a signed URL`);
    const exp = Number(new URL(url, gw.url).searchParams.get('exp'));
    assert.ok(exp >= Math.floor(Date.now() / 1000), `${what}: exp ${exp} is not in the past`);
    const res = await get(gw, url);
    assert.equal(res.status, 200, `${what}: ${url} → ${res.status}`);
    assert.deepEqual(res.body, text, `${what}: the file`);
  };
  before(async () => {
    gw = await startGateway({ args: ['--attachment-url-ttl-secs', String(TTL_SECS)] });
    ada = await connect(gw, '1');
    ian = await connect(gw, '2');
    room = await directRoom(ada, '2');
    await waitFor(ian, 'message', (m) => m.roomId === room);
    const up = await upload(gw, gw.token('1'), text, 'slides.txt');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    clientId = `c-${Date.now()}`;
    sent = (await ok(ada, 'message', { roomId: room, content: '', attachments: [up.body.id], clientId })).message;
    await waitFor(ian, 'message', (m) => m.id === sent.id);
    // Wait (bounded) until the URL the message was sent with has expired.
    const first = sent.attachments[0].url;
    await until(async () => (await get(gw, first)).status === 403, 'the original signed URL expires', (TTL_SECS + 5) * 1000, 200);
  });
  after(async () => { await gw?.stop(); });

  it('conversations:list: lastMessage\'s attachment URL downloads after the original expired', async () => {
    const list = (await ok(ian, 'conversations:list', {})).conversations;
    const conv = list.find((c) => c.id === room);
    assert.equal(conv.lastMessage.id, sent.id, 'the file message is the last one');
    assert.notEqual(conv.lastMessage.attachments[0].url, sent.attachments[0].url, 're-signed');
    await downloads(conv.lastMessage.attachments[0].url, 'conversations:list lastMessage');
  });

  it('join\'s room and a resend\'s ack (same clientId) carry fresh URLs too', async () => {
    const joined = (await ok(ian, 'join', { roomId: room })).room;
    await downloads(joined.lastMessage.attachments[0].url, 'join ack room.lastMessage');
    const again = (await ok(ada, 'message', { roomId: room, content: '', attachments: [sent.attachments[0].id], clientId })).message;
    assert.equal(again.id, sent.id, 'the resend is the first message');
    await downloads(again.attachments[0].url, 'the resend\'s ack');
  });

  it('message:edit: the ack and message:updated carry fresh URLs', async () => {
    const edited = (await ok(ada, 'message:edit', { messageId: sent.id, content: 'with a caption' })).message;
    await downloads(edited.attachments[0].url, 'message:edit ack');
    const updated = await waitFor(ian, 'message:updated', (m) => m.id === sent.id);
    await downloads(updated.attachments[0].url, 'message:updated');
  });
});

describe('attachment sweeper', () => {
  let gw, ada, room;
  before(async () => {
    gw = await startGateway({
      args: ['--attachment-max-age-secs', '1', '--attachment-sweep-interval-secs', '1'],
    });
    ada = await connect(gw, '1');
    room = await directRoom(ada, '2');
  });
  after(async () => { await gw?.stop(); });

  it('removes uploads nobody attached, keeps attached ones', async () => {
    const t = gw.token('1');
    const kept = await upload(gw, t, Buffer.from('kept bytes'), 'kept.txt');
    const lost = await upload(gw, t, Buffer.from('lost bytes'), 'lost.txt');
    await ok(ada, 'message', { roomId: room, content: 'see file', attachments: [kept.body.id] });
    await until(async () => (await get(gw, `/api/chat/attachments/${lost.body.id}`, { token: t })).status === 404,
      'the unattached upload is swept', 10000, 200);
    await fails(ada, 'not_found', 'message', { roomId: room, content: '', attachments: [lost.body.id] });
    const k = await get(gw, `/api/chat/attachments/${kept.body.id}`, { token: t });
    assert.equal(k.status, 200);
    assert.equal(k.body.toString(), 'kept bytes');
    assert.ok(!blobFiles(gw.dataDir).some((p) => readFileSync(p).toString() === 'lost bytes'), 'its blob is gone');
  });
});
