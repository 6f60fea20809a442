// The agent console (docs/protocol.md, "Agent console"): availability per
// department, the queue and taking from it, transfer, the visitor panel, the
// supervisor view and its live nudge. Real gateway binary, official
// socket.io-client; each scenario starts its own gateway and connects only
// the agents it is about (agents count as online only while connected).
//
// Agents in tests/fixtures/directory.json: support (5 Sam, limit 5; 41 Gina
// and 42 Hugo, limit 1), general (8 Gus, limit 3), sales (20 Sally, 21 Sid,
// limit 2), billing (30..34, limit 2).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, connect, ok, fails, waitFor, drain, ISO } from '../lib/gateway.mjs';

let seq = 0;
function form(queryType, extra = {}) {
  seq += 1;
  return { name: `Desk Visitor ${seq}`, email: `desk${seq}@example.org`, queryType, ...extra };
}

describe('agent:availability counts per department', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('a visitor hears, per department, who could answer; general agents count for every department', async () => {
    const v = await connect(gw, null);
    const first = await waitFor(v, 'agent:availability');
    assert.deepEqual(first.departments, { billing: 0, general: 0, sales: 0, support: 0 });
    assert.equal(first.online, 0);

    await connect(gw, '20'); // Sally, sales
    const sales = await waitFor(v, 'agent:availability', (a) => a.departments.sales === 1);
    assert.deepEqual(sales.departments, { billing: 0, general: 0, sales: 1, support: 0 });

    const gus = await connect(gw, '8'); // general: helps every department
    const all = await waitFor(v, 'agent:availability', (a) => a.departments.general === 1);
    assert.deepEqual(all.departments, { billing: 1, general: 1, sales: 2, support: 1 });
    assert.equal(all.online, 2);

    await ok(gus, 'agent:status', { available: false });
    const away = await waitFor(v, 'agent:availability', (a) => a.departments.general === 0);
    assert.deepEqual(away.departments, { billing: 0, general: 0, sales: 1, support: 0 });
  });
});

describe('support:queue and support:take', () => {
  let gw, sally, sid, bill, admin, v1, v2, r1, r2;
  before(async () => {
    gw = await startGateway();
    // Sales agents, set unavailable: chats queue instead of being assigned.
    sally = await connect(gw, '20');
    sid = await connect(gw, '21');
    await ok(sally, 'agent:status', { available: false });
    await ok(sid, 'agent:status', { available: false });
    bill = await connect(gw, '30');
    admin = await connect(gw, '9');
    v1 = await connect(gw, null);
    v2 = await connect(gw, null);
  });
  after(async () => { await gw?.stop(); });

  it('queued chats show in the queue of the agents who serve them, and the consoles are nudged live', async () => {
    drain(sally, 'support:desk:changed');
    drain(admin, 'support:desk:changed');
    const a = await ok(v1, 'support:start', form('course_inquiry', { message: 'Which course fits a site manager?' }));
    const b = await ok(v2, 'support:start', form('course_inquiry'));
    assert.equal(a.status, 'queued');
    assert.equal(b.status, 'queued');
    r1 = a.conversation.id;
    r2 = b.conversation.id;
    await waitFor(sally, 'support:desk:changed');
    await waitFor(admin, 'support:desk:changed');

    const { queue } = await ok(sally, 'support:queue', {});
    assert.deepEqual(queue.map((q) => [q.roomId, q.position, q.department, q.queryType]), [
      [r1, 1, 'sales', 'course_inquiry'],
      [r2, 2, 'sales', 'course_inquiry'],
    ]);
    assert.equal(queue[0].firstMessage, 'Which course fits a site manager?');
    assert.equal(queue[1].firstMessage, null);
    assert.match(queue[0].waitingSince, ISO);
    assert.equal(queue[0].visitorName, a.conversation.support.visitorName);
    // Billing serves none of them; an admin sees everything.
    assert.deepEqual((await ok(bill, 'support:queue', {})).queue, []);
    assert.equal((await ok(admin, 'support:queue', {})).queue.length, 2);
  });

  it('who may look and take: guests, students and other departments are refused and nothing changes', async () => {
    await fails(v1, 'unauthorized', 'support:queue', {});
    const ada = await connect(gw, '1');
    await fails(ada, 'forbidden', 'support:queue', {});
    await fails(ada, 'forbidden', 'support:take', { roomId: r1 });
    await fails(bill, 'forbidden', 'support:take', { roomId: r1 });
    await fails(admin, 'forbidden', 'support:take', { roomId: r1 });
    await fails(sally, 'invalid', 'support:take', {});
    await fails(sally, 'conflict', 'support:take', { roomId: 'no-such-room' });
    assert.equal((await ok(sally, 'support:queue', {})).queue.length, 2);
  });

  it('an agent takes a chat by hand (even when set unavailable): the visitor is assigned, the next visitor moves up', async () => {
    const res = await ok(sally, 'support:take', { roomId: r1 });
    assert.equal(res.conversation.id, r1);
    assert.ok(res.conversation.participants.some((p) => p.id === '20'));
    assert.deepEqual(await waitFor(v1, 'support:assigned', (x) => x.roomId === r1), { roomId: r1, agent: { id: '20', name: 'Sally Sales' } });
    await waitFor(v1, 'message', (m) => m.roomId === r1 && m.type === 'system' && /Sally Sales joined the chat/.test(m.content));
    assert.equal((await waitFor(v2, 'support:queued', (x) => x.roomId === r2 && x.position === 1)).position, 1);
    // Taken once only.
    await fails(sid, 'conflict', 'support:take', { roomId: r1 });
    assert.deepEqual((await ok(sally, 'support:queue', {})).queue.map((q) => q.roomId), [r2]);
  });

  it('two agents taking the same chat at once: exactly one gets it', async () => {
    const [x, y] = await Promise.all([
      sally.timeout(5000).emitWithAck('support:take', { roomId: r2 }),
      sid.timeout(5000).emitWithAck('support:take', { roomId: r2 }),
    ]);
    const oks = [x, y].filter((r) => r.ok);
    assert.equal(oks.length, 1, JSON.stringify([x, y]));
    assert.equal([x, y].find((r) => !r.ok).error.code, 'conflict');
    assert.deepEqual((await ok(admin, 'support:queue', {})).queue, []);
  });

  it('an agent at its limit cannot take more', async () => {
    // Sally has one or two chats now (limit 2); fill her up, then one more queues.
    const extra = [];
    for (let i = 0; i < 2; i++) {
      const v = await connect(gw, null);
      extra.push((await ok(v, 'support:start', form('course_inquiry'))).conversation.id);
    }
    let taken = 0;
    for (const id of extra) {
      const r = await sally.timeout(5000).emitWithAck('support:take', { roomId: id });
      if (r.ok) taken += 1;
      else assert.equal(r.error.code, 'unavailable');
    }
    const { queue } = await ok(sally, 'support:queue', {});
    assert.ok(queue.length >= 1, 'at least one chat is left in the queue');
    await fails(sally, 'unavailable', 'support:take', { roomId: queue[0].roomId });
    assert.ok(taken <= 1);
  });
});

describe('support:transfer, support:visitor and support:desk', () => {
  let gw, gina, hugo, admin, v, roomId;
  before(async () => {
    gw = await startGateway();
    gina = await connect(gw, '41'); // support, limit 1
    admin = await connect(gw, '9');
    v = await connect(gw, null);
  });
  after(async () => { await gw?.stop(); });

  it('the transfer target must be able to take the chat now; bad requests change nothing', async () => {
    const res = await ok(v, 'support:start', form('technical_support', { message: 'The player stalls at 10%' }));
    assert.equal(res.status, 'assigned');
    assert.equal(res.agent.id, '41');
    roomId = res.conversation.id;
    await fails(gina, 'unavailable', 'support:transfer', { roomId, agentId: '42' }); // Hugo is offline
    hugo = await connect(gw, '42');
    await fails(gina, 'invalid', 'support:transfer', { roomId, agentId: '42', department: 'billing' });
    await fails(gina, 'invalid', 'support:transfer', { roomId });
    await fails(gina, 'invalid', 'support:transfer', { roomId, department: 'marketing' });
    await fails(gina, 'invalid', 'support:transfer', { roomId, agentId: 42 });
    await fails(gina, 'invalid', 'support:transfer', { roomId, agentId: '41' });
    await fails(gina, 'not_found', 'support:transfer', { roomId, agentId: '1' });
    await fails(hugo, 'forbidden', 'support:transfer', { roomId, agentId: '42' }); // not Hugo's chat
    const ada = await connect(gw, '1');
    await fails(ada, 'forbidden', 'support:transfer', { roomId, agentId: '42' });
    await fails(v, 'unauthorized', 'support:transfer', { roomId, agentId: '42' });
    await fails(admin, 'unavailable', 'support:transfer', { roomId, department: 'billing' }); // nobody in billing
    const desk = await ok(admin, 'support:desk', {});
    assert.deepEqual(desk.agents.find((a) => a.id === '41').chats.map((c) => c.roomId), [roomId]);
  });

  it('the chat’s agent hands it to another agent: a system line, the new agent in, the old one out', async () => {
    drain(v, 'message');
    const res = await ok(gina, 'support:transfer', { roomId, agentId: '42' });
    assert.deepEqual(res.agent, { id: '42', name: 'Hugo Grace' });
    await waitFor(v, 'message', (m) => m.roomId === roomId && m.type === 'system' && m.content === 'Gina Grace transferred the chat to Hugo Grace');
    await waitFor(v, 'support:assigned', (a) => a.roomId === roomId && a.agent.id === '42');
    await waitFor(hugo, 'conversation:new', (c) => c.id === roomId);
    const gone = await waitFor(gina, 'conversation:updated', (c) => c.id === roomId);
    assert.ok(!gone.participants.some((p) => p.id === '41'), 'Gina is no longer a participant');
    await fails(gina, 'forbidden', 'support:transfer', { roomId, agentId: '41' });
    await fails(gina, ['forbidden', 'not_found'], 'message', { roomId, content: 'still here?' });
    // Hugo and the visitor talk.
    await ok(hugo, 'message', { roomId, content: 'Hugo here, let me look.' });
    await waitFor(v, 'message', (m) => m.roomId === roomId && m.content === 'Hugo here, let me look.');
  });

  it('an admin transfers to a department: its best agent takes it', async () => {
    const bill = await connect(gw, '30');
    const res = await ok(admin, 'support:transfer', { roomId, department: 'billing' });
    assert.deepEqual(res.agent, { id: '30', name: 'Bill One' });
    await waitFor(v, 'message', (m) => m.roomId === roomId && m.content === 'Root Admin transferred the chat to Bill One');
    await waitFor(bill, 'conversation:new', (c) => c.id === roomId);
  });

  it('the visitor panel: email, topic, department, the page it came from, and the visitor’s earlier chats', async () => {
    const bill = await connect(gw, '30');
    await ok(bill, 'support:end', { roomId });
    await ok(v, 'support:rate', { roomId, rating: 4 });
    // A page the widget could not have been opened on is refused, and nothing starts.
    for (const pageUrl of ['javascript:alert(1)', '/courses/python', 42]) {
      await fails(v, 'invalid', 'support:start', form('technical_support', { pageUrl }));
    }
    const page = 'https://seitech.example/courses/python?ref=newsletter';
    const again = await ok(v, 'support:start', form('technical_support', { name: 'Desk Visitor again', pageUrl: page }));
    const second = again.conversation.id;
    const agentId = again.agent?.id;
    assert.ok(agentId === '41' || agentId === '42', `assigned to ${JSON.stringify(again)}`);
    const agent = agentId === '41' ? gina : hugo;
    const panel = await ok(agent, 'support:visitor', { roomId: second });
    assert.equal(panel.visitor.id, v.session.userId);
    assert.match(panel.visitor.email, /^desk\d+@example\.org$/);
    assert.equal(panel.queryType, 'technical_support');
    assert.equal(panel.department, 'support');
    assert.equal(panel.pageUrl, page, 'the page the visitor came from');
    assert.equal(panel.status, 'active');
    assert.match(panel.startedAt, ISO);
    assert.equal(panel.earlier.length, 1);
    assert.equal(panel.earlier[0].roomId, roomId);
    assert.equal(panel.earlier[0].status, 'ended');
    assert.equal(panel.earlier[0].rating, 4);
    assert.equal(panel.earlier[0].agentName, 'Bill One');
    assert.match(panel.earlier[0].endedAt, ISO);
    // Bill is online with room to spare; the chat's own agent is not offered.
    assert.ok(panel.transferTargets.some((t) => t.id === '30' && t.name === 'Bill One' && t.department === 'billing'));
    assert.ok(!panel.transferTargets.some((t) => t.id === agentId));
    // The admin may look; another agent who neither has it nor could take it may not.
    await ok(admin, 'support:visitor', { roomId: second });
    const sally = await connect(gw, '20');
    await fails(sally, 'not_found', 'support:visitor', { roomId: second });
    await fails(v, 'unauthorized', 'support:visitor', { roomId: second });
    const ada = await connect(gw, '1');
    await fails(ada, 'forbidden', 'support:visitor', { roomId: second });
    await fails(admin, 'not_found', 'support:visitor', { roomId: 'no-such-room' });
  });

  it('the supervisor view is for admins: agents with load and availability, and the queue', async () => {
    const desk = await ok(admin, 'support:desk', {});
    const byId = Object.fromEntries(desk.agents.map((a) => [a.id, a]));
    for (const id of ['41', '42', '30']) {
      assert.equal(byId[id].online, true);
      assert.equal(byId[id].available, true);
    }
    assert.equal(byId['41'].maxChats, 1);
    assert.equal(byId['41'].activeChats + byId['42'].activeChats, 1);
    assert.equal(byId['30'].activeChats, 0);
    assert.equal(byId['5'].online, false);
    assert.deepEqual(desk.queue, []);
    await fails(gina, 'forbidden', 'support:desk', {});
    // Availability changes nudge the admin's console.
    drain(admin, 'support:desk:changed');
    await ok(gina, 'agent:status', { available: false });
    await waitFor(admin, 'support:desk:changed');
    assert.equal((await ok(admin, 'support:desk', {})).agents.find((a) => a.id === '41').available, false);
  });
});

describe('an admin can serve support', () => {
  let gw;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('after agent:status an admin is a general agent: counted, assigned, and may take; before it, not', async () => {
    const admin = await connect(gw, '9');
    const v = await connect(gw, null);
    await waitFor(v, 'agent:availability');
    const queued = await ok(v, 'support:start', form('billing', { message: 'Refund please' }));
    assert.equal(queued.status, 'queued');
    await fails(admin, 'forbidden', 'support:take', { roomId: queued.conversation.id });
    assert.ok(!(await ok(admin, 'support:desk', {})).agents.some((a) => a.id === '9'));

    // Serving, but unavailable: on the desk, takes by hand, not assigned automatically.
    await ok(admin, 'agent:status', { available: false });
    const desk = await ok(admin, 'support:desk', {});
    assert.deepEqual(
      (({ department, online, available, activeChats }) => ({ department, online, available, activeChats }))(desk.agents.find((a) => a.id === '9')),
      { department: 'general', online: true, available: false, activeChats: 0 },
    );
    const taken = await ok(admin, 'support:take', { roomId: queued.conversation.id });
    assert.equal(taken.conversation.id, queued.conversation.id);
    await waitFor(v, 'support:assigned', (a) => a.agent.id === '9' && a.agent.name === 'Root Admin');

    // Available: visitors count it for every department, and new chats go to it.
    await ok(admin, 'agent:status', { available: true });
    await waitFor(v, 'agent:availability', (a) => a.departments.sales === 1 && a.departments.billing === 1);
    const v2 = await connect(gw, null);
    const assigned = await ok(v2, 'support:start', form('course_inquiry'));
    assert.equal(assigned.status, 'assigned');
    assert.equal(assigned.agent.id, '9');

    // Other roles still have no status.
    const ada = await connect(gw, '1');
    await fails(ada, 'forbidden', 'agent:status', { available: true });
  });
});

describe('the console nudge at start-up', () => {
  it('a restart that rebuilds a desk with queued chats starts cleanly (no nudge before the namespace exists)', async () => {
    const first = await startGateway();
    const v = await connect(first, null);
    const queued = await ok(v, 'support:start', form('billing'));
    assert.equal(queued.status, 'queued');
    first.keep();
    await first.stop();
    const again = await startGateway({ dataDir: first.dataDir, secret: first.secret });
    try {
      const admin = await connect(again, '9');
      const { queue } = await ok(admin, 'support:queue', {});
      assert.deepEqual(queue.map((q) => q.roomId), [queued.conversation.id]);
      assert.doesNotMatch(again.stderr(), /panicked/);
    } finally {
      await again.stop();
    }
  });
});
