// §1 handshake and identity, session event, presence over tabs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import jwt from 'jsonwebtoken';
import path from 'node:path';
import {
  REPO_ROOT, startGateway, connect, fails, connectFails, ok, waitFor, assertNone, uniq, untilConnections,
  assertHealthy, directRoom, sendAndSee,
} from '../lib/gateway.mjs';

describe('handshake and session', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('no token → guest session with a resumable guestToken', async () => {
    const g = await connect(gw, null);
    const s = g.session;
    assert.match(s.userId, /^guest_\d{12,}_[A-Za-z0-9]+$/, `guest id shape: ${s.userId}`);
    const ms = Number(s.userId.split('_')[1]);
    assert.ok(Math.abs(ms - Date.now()) < 60_000, 'guest id carries the epoch-ms of now');
    assert.equal(s.role, 'public');
    assert.equal(typeof s.name, 'string');
    assert.equal(typeof s.guestToken, 'string');
    assert.ok(s.guestToken.length >= 16, 'guest token is not trivially guessable');
    g.disconnect();
  });

  it('empty token string → guest too', async () => {
    const g = await connect(gw, { token: '' });
    assert.equal(g.session.role, 'public');
    assert.match(g.session.userId, /^guest_/);
    g.disconnect();
  });

  it('two guests get different ids', async () => {
    const a = await connect(gw, null);
    const b = await connect(gw, null);
    assert.notEqual(a.session.userId, b.session.userId);
    assert.notEqual(a.session.guestToken, b.session.guestToken);
    a.disconnect(); b.disconnect();
  });

  it('guestToken resumes the same guest identity and its conversations', async () => {
    const g = await connect(gw, null);
    const { userId, guestToken } = g.session;
    // An admin may start a conversation with anyone (§5), a guest included.
    const admin = await connect(gw, '9');
    const conv = await ok(admin, 'conversation:create', { type: 'direct', participantIds: [userId] });
    const roomId = conv.conversation.id;
    await waitFor(g, 'conversation:new', (c) => c.id === roomId);
    const msg = await ok(admin, 'message', { roomId, content: uniq('for the guest') });
    await waitFor(g, 'message', (m) => m.id === msg.message.id);
    g.disconnect();

    const again = await connect(gw, { token: guestToken });
    assert.equal(again.session.userId, userId, 'same guest id after resume');
    assert.equal(again.session.role, 'public');
    const list = await ok(again, 'conversations:list', {});
    const found = list.conversations.find((c) => c.id === roomId);
    assert.ok(found, 'the resumed guest still has its conversation');
    assert.equal(found.lastMessage?.id, msg.message.id);
    // and is in its room again without calling join
    const msg2 = await ok(admin, 'message', { roomId, content: uniq('after resume') });
    await waitFor(again, 'message', (m) => m.id === msg2.message.id);
    const r = await ok(again, 'message', { roomId, content: uniq('guest replies') });
    assert.equal(r.message.authorId, userId);
    again.disconnect(); admin.disconnect();
  });

  it('JWT → session with the claims (sub, name, role)', async () => {
    for (const id of ['1', '2', '9', '5']) {
      const s = await connect(gw, id);
      const expected = { '1': ['Ada Student', 'student'], '2': ['Ian Instructor', 'instructor'], '9': ['Root Admin', 'admin'], '5': ['Sam Agent', 'support-agent'] }[id];
      assert.equal(s.session.userId, id);
      assert.equal(s.session.name, expected[0]);
      assert.equal(s.session.role, expected[1]);
      assert.equal(s.session.guestToken, undefined, 'no guestToken for signed-in users');
      s.disconnect();
    }
  });

  it('a user known only from its JWT joins the directory with its claims', async () => {
    const token = gw.token('7001', { name: 'Nora Newcomer', role: 'instructor' });
    const s = await connect(gw, { token });
    assert.deepEqual({ userId: s.session.userId, name: s.session.name, role: s.session.role },
      { userId: '7001', name: 'Nora Newcomer', role: 'instructor' });
    // instructors may start a conversation with admins (§5); the admin sees the newcomer's name
    const admin = await connect(gw, '9');
    const conv = await ok(s, 'conversation:create', { type: 'direct', participantIds: ['9'] });
    const p = conv.conversation.participants.find((x) => x.id === '7001');
    assert.equal(p?.name, 'Nora Newcomer');
    const seen = await waitFor(admin, 'conversation:new', (c) => c.id === conv.conversation.id);
    assert.ok(seen.participants.some((x) => x.id === '7001' && x.role === 'instructor'));
    s.disconnect(); admin.disconnect();
  });

  it('a JWT as the Odoo addon issues it (partner_id, department) is accepted', async () => {
    const token = gw.token('5', { name: 'Sam Agent', role: 'support-agent', partner_id: 77, department: 'support' });
    const s = await connect(gw, { token });
    assert.deepEqual({ userId: s.session.userId, role: s.session.role }, { userId: '5', role: 'support-agent' });
    s.disconnect();
  });

  it('a JWT-only user is findable by others once it has connected', async () => {
    const token = gw.token('7002', { name: 'Zed Zebra', role: 'instructor' });
    const z = await connect(gw, { token });
    z.disconnect();
    const admin = await connect(gw, '9');
    const r = await ok(admin, 'users:search', { query: 'Zed Zeb' });
    assert.deepEqual(r.users.map((u) => [u.id, u.name, u.role, u.online]), [['7002', 'Zed Zebra', 'instructor', false]]);
    admin.disconnect();
  });

  it('JWT claims are authoritative for name and role', async () => {
    const token = gw.token('1', { name: 'Ada Lovelace', role: 'student' });
    const s = await connect(gw, { token });
    assert.equal(s.session.name, 'Ada Lovelace');
    const r = await ok(s, 'message', { recipientId: '2', content: uniq('renamed') });
    assert.equal(r.message.authorName, 'Ada Lovelace');
    s.disconnect();
  });

  const bad = {
    'garbage token': () => 'not-a-jwt',
    'JWT signed with another secret': () => gw.token('1', { __secret: 'wrong-secret' }),
    'expired JWT': () => gw.token('1', { exp: Math.floor(Date.now() / 1000) - 120 }),
    'JWT with alg none': () => jwt.sign({ sub: '9', name: 'Root Admin', role: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 }, null, { algorithm: 'none' }),
    'JWT with a tampered payload': () => {
      const [h, , sig] = gw.token('1').split('.');
      const p = Buffer.from(JSON.stringify({ sub: '9', name: 'x', role: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
      return `${h}.${p}.${sig}`;
    },
    'forged guest token': () => 'guest_1700000000000_abcdef',
    'non-string token': () => 12345,
  };
  for (const [label, make] of Object.entries(bad)) {
    it(`${label} → connect_error "Authentication failed"`, async () => {
      const err = await connectFails(gw, { token: make() });
      assert.equal(err.message, 'Authentication failed');
      // nothing else is revealed
      if (err.data !== undefined && err.data !== null) {
        const d = JSON.stringify(err.data);
        assert.doesNotMatch(d, /expired|signature|secret|jwt|invalid/i, `connect_error data reveals: ${d}`);
      }
    });
  }

  it('after rejected handshakes the gateway is healthy and others connect', async () => {
    await assertHealthy(gw);
    const s = await connect(gw, '1');
    s.disconnect();
  });
});

describe('presence', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('user:online once for the first of three tabs, user:offline only after the last closes', async () => {
    // Ada (1) and Ian (2) share a conversation.
    const ian0 = await connect(gw, '2');
    const ada = await connect(gw, '1');
    const roomId = await directRoom(ada, '2');
    ian0.disconnect();
    await waitFor(ada, 'user:offline', (id) => id === '2');
    await untilConnections(gw, 1);

    const tab1 = await connect(gw, '2');
    assert.equal(await waitFor(ada, 'user:online', (id) => id === '2'), '2', 'user:online carries the bare id');
    const tab2 = await connect(gw, '2');
    const tab3 = await connect(gw, '2');
    // marker through the same server → Ada path, after tabs 2 and 3 are connected
    await sendAndSee(tab3, roomId, [ada]);
    assertNone(ada, 'user:online', (id) => id === '2', 'for the second and third tab');

    tab1.disconnect();
    await untilConnections(gw, 3);
    tab2.disconnect();
    await untilConnections(gw, 2);
    await sendAndSee(tab3, roomId, [ada]);
    assertNone(ada, 'user:offline', (id) => id === '2', 'while a tab is still open');

    tab3.disconnect();
    assert.equal(await waitFor(ada, 'user:offline', (id) => id === '2'), '2');
    ada.disconnect();
  });

  it('a tab that drops abruptly (transport closed, no disconnect packet) counts as closed', async () => {
    const ada = await connect(gw, '1');
    const roomId = await directRoom(ada, '2');
    const t1 = await connect(gw, '2', { transports: ['websocket'] });
    await waitFor(ada, 'user:online', (id) => id === '2');
    const t2 = await connect(gw, '2', { transports: ['polling'], upgrade: false });
    const base = (await gw.health()).body.connections;
    t1.io.engine.close();
    await untilConnections(gw, base - 1);
    await sendAndSee(t2, roomId, [ada]);
    assertNone(ada, 'user:offline', (id) => id === '2', '(one tab is still open)');
    t2.io.engine.close();
    assert.equal(await waitFor(ada, 'user:offline', (id) => id === '2'), '2');
    ada.disconnect();
  });

  it('a message reaches every tab of the recipient and the sender\'s other tabs', async () => {
    const a1 = await connect(gw, '1');
    const a2 = await connect(gw, '1');
    const i1 = await connect(gw, '2');
    const i2 = await connect(gw, '2');
    const res = await ok(a1, 'message', { recipientId: '2', content: uniq('tabs') });
    for (const s of [a2, i1, i2]) await waitFor(s, 'message', (m) => m.id === res.message.id);
    for (const s of [a1, a2, i1, i2]) s.disconnect();
  });

  it('presence goes only to users sharing a conversation; admins see everyone', async () => {
    const admin = await connect(gw, '9');
    const ada = await connect(gw, '1');
    await waitFor(admin, 'user:online', (id) => id === '1');
    const adaRoom = await directRoom(ada, '2');
    // Eve (11) shares nothing with Ada
    const eve = await connect(gw, '11');
    await waitFor(admin, 'user:online', (id) => id === '11');
    const ian = await connect(gw, '2');
    await waitFor(ada, 'user:online', (id) => id === '2');
    await sendAndSee(ian, adaRoom, [ada]);
    assertNone(ada, 'user:online', (id) => id === '11', '(Eve shares no conversation with Ada)');
    eve.disconnect();
    await waitFor(admin, 'user:offline', (id) => id === '11');
    await sendAndSee(ian, adaRoom, [ada]);
    assertNone(ada, 'user:offline', (id) => id === '11');
    for (const s of [admin, ada, ian]) s.disconnect();
  });

  it('guests do not announce presence to a user who has no conversation with them', async () => {
    const ada = await connect(gw, '1');
    const ian = await connect(gw, '2');
    const roomId = await directRoom(ada, '2');
    await waitFor(ian, 'message', (m) => m.roomId === roomId);
    const g = await connect(gw, null);
    await sendAndSee(ian, roomId, [ada]);
    assertNone(ada, 'user:online', (id) => id === g.session.userId);
    for (const s of [ada, ian, g]) s.disconnect();
  });
});

describe('directory file in TOML', () => {
  let gw;
  before(async () => {
    gw = await startGateway({ directoryFile: path.join(REPO_ROOT, 'tests', 'fixtures', 'directory.toml') });
  });
  after(async () => { await gw?.stop(); });

  it('courses, users and agents from a TOML directory drive routing, search and support', async () => {
    const ada = await connect(gw, '1');
    await ok(ada, 'message', { recipientId: '2', content: 'hello from toml' });
    await fails(ada, 'forbidden', 'message', { recipientId: '7', content: 'not my course' });
    const found = await ok(ada, 'users:search', { query: 'Sam' });
    assert.deepEqual(found.users.map((u) => [u.id, u.role, u.online]), [['5', 'support-agent', false]]);
    const v = await connect(gw, null);
    const first = await ok(v, 'support:start', { name: 'T Visitor', email: 't@example.org', queryType: 'technical_support' });
    assert.equal(first.status, 'queued');
    const away = await waitFor(v, 'message', (m) => m.roomId === first.conversation.id && m.type === 'system');
    assert.equal(away.content, 'TOML support is away.');
    const sam = await connect(gw, '5');
    const a = await waitFor(v, 'support:assigned', (x) => x.roomId === first.conversation.id);
    assert.equal(a.agent.name, 'Sam Agent');
    // maxConcurrentChats = 1 from the TOML file: the next visitor waits
    const v2 = await connect(gw, null);
    const second = await ok(v2, 'support:start', { name: 'U Visitor', email: 'u@example.org', queryType: 'technical_support' });
    assert.equal(second.status, 'queued');
    assert.equal(second.position, 1);
    for (const s of [ada, v, v2, sam]) s.disconnect();
  });
});
