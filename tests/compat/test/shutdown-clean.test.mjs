// Issue 11, item 4: SIGTERM while clients disconnect never panics. A
// disconnect handler that started just before the shutdown announces the
// user's presence after socketioxide has taken the namespaces away; `io.to`
// panicked then ("default namespace not found"), in about one shutdown in five.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, connect, until } from '../lib/gateway.mjs';

const ROUNDS = 10;
const USERS = 80;

test(`SIGTERM while many clients disconnect exits 0 without a panic (${ROUNDS} rounds)`, async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const gw = await startGateway({ env: { RUST_LOG: 'info' } });
    try {
      const sockets = [];
      for (let i = 0; i < USERS; i++) sockets.push(await connect(gw, String(100 + i)));
      // Every user leaves (each one's last tab: a presence announcement), and
      // the gateway is told to stop while their disconnect handlers run.
      for (const s of sockets) s.disconnect();
      await until(async () => (await gw.health()).body.connections < USERS - 5 + round,
        'some disconnect handlers have started', 10_000, 1);
      process.kill(-gw.proc.pid, 'SIGTERM');
      const exit = await Promise.race([gw.exited, new Promise((r) => setTimeout(() => r(null), 15_000).unref())]);
      assert.ok(exit, `round ${round}: the gateway did not exit within 15 s`);
      const stderr = gw.stderr();
      assert.doesNotMatch(stderr, /panicked/, `round ${round}: a panic during shutdown:\n${stderr.slice(-3000)}`);
      assert.equal(exit.code, 0, `round ${round}: exit ${JSON.stringify(exit)}\n${stderr.slice(-3000)}`);
      assert.match(stderr, /stopped cleanly/, `round ${round}: the store was flushed and closed`);
    } finally {
      await gw.stop();
    }
  }
});
