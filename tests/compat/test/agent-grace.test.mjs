// Issue 11, item 2: during its grace period a disconnected agent keeps the
// chats it has, but new chats go only to connected, available agents.
// (Fixture: support department = 5 Sam (limit 5), 41 Gina and 42 Hugo (limit 1).)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, connect, ok, waitFor, untilConnections } from '../lib/gateway.mjs';

const gateways = [];
after(async () => { for (const gw of gateways) await gw.stop(); });

test('an agent inside its grace period keeps its chat and gets no new one', async () => {
  const gw = await startGateway({ args: ['--agent-grace-secs', '120'] });
  gateways.push(gw);
  const sam = await connect(gw, '5');
  const first = await connect(gw, null);
  const mine = await ok(first, 'support:start', { name: 'First Visitor', email: 'first@example.org', queryType: 'technical_support' });
  assert.equal(mine.status, 'assigned');
  assert.equal(mine.agent.id, '5');

  const availability = await connect(gw, null);
  await waitFor(availability, 'agent:availability', (a) => a.online === 1);
  sam.disconnect(); // Sam's last tab: his grace period starts
  await untilConnections(gw, 2);
  const seen = await waitFor(availability, 'agent:availability', (a) => a.online === 0);
  assert.equal(seen.online, 0, 'visitors see no agent available while Sam is away');

  // Three visitors arrive while Sam is away: none is given to him.
  for (let i = 0; i < 3; i++) {
    const v = await connect(gw, null);
    const res = await ok(v, 'support:start', { name: `Visitor ${i}`, email: `v${i}@example.org`, queryType: 'technical_support' });
    assert.equal(res.status, 'queued', `visitor ${i}: ${JSON.stringify(res).slice(0, 300)}`);
    assert.equal(res.agent, undefined);
  }
  // Sam still has his chat: back within the period, he finds it and takes
  // the queue (limit 5: the three waiting visitors).
  const back = await connect(gw, '5');
  const list = await ok(back, 'conversations:list', { type: 'support' });
  const kept = list.conversations.find((c) => c.id === mine.conversation.id);
  assert.ok(kept, 'the chat he had is still his');
  assert.equal(kept.support.agentId, '5');
  for (let i = 0; i < 3; i++) await waitFor(back, 'conversation:new', (c) => c.type === 'support');
});
