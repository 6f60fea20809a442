// Issue 11, item 18: a websocket frame over the packet limit (2 MB against
// 1 MB). Node's ws closes such a connection with 1009 "message too big". The
// gateway's websocket layer (engineioxide over tungstenite) reports the
// oversized frame as a read error, ends the session and closes the websocket
// with a close frame that carries no status code (the client sees 1005); it
// offers no hook to choose the code (docs/protocol.md, "Packet size").
// What is tested here is what the gateway does: the connection is closed at
// once, with a close frame (1005, or 1009 should the library learn it), the
// gateway and its other clients carry on, and the client can connect again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startGateway, connect, ok, waitFor, assertHealthy } from '../lib/gateway.mjs';

let gw;
after(async () => { await gw?.stop(); });

/** Text frames as they come (pings answered), taken in order, bounded. */
function frames(ws) {
  const queue = [];
  const waiters = [];
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === '2') { ws.send('3'); return; } // Engine.IO ping: pong
    if (waiters.length) waiters.shift()(text);
    else queue.push(text);
  });
  return (ms = 5000) => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no frame')), ms);
    waiters.push((text) => { clearTimeout(t); resolve(text); });
  }));
}

test('a 2 MB websocket frame closes that connection at once and harms no one', async () => {
  gw = await startGateway();
  const ada = await connect(gw, '1');
  const ian = await connect(gw, '2');

  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
  const nextText = frames(ws);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  assert.match(await nextText(), /^0\{/, 'Engine.IO open');
  ws.send(`40${JSON.stringify({ token: gw.token('3') })}`);
  assert.match(await nextText(), /^40\{/, 'Socket.IO connect');

  const closed = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the connection was not closed within 10 s')), 10_000);
    ws.once('close', (code) => { clearTimeout(t); resolve(code); });
  });
  ws.send(`42${JSON.stringify(['message', { recipientId: '2', content: 'B'.repeat(2_000_000) }])}`);
  const code = await closed;
  assert.ok([1005, 1009].includes(code), `closed with ${code}`);

  await assertHealthy(gw);
  const res = await ok(ada, 'message', { recipientId: '2', content: 'still here' });
  await waitFor(ian, 'message', (m) => m.id === res.message.id);
  const again = await connect(gw, '3');
  assert.equal(again.session.userId, '3', 'the client connects again');
});
