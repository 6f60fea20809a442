// Issue 11, item 3: in demo mode without JWT_SECRET the gateway keeps its
// secret in the data directory (owner-only file), so a token a client got
// before a restart still works after it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { gatewayBin, fetchT, once, waitFor, record } from '../lib/gateway.mjs';

const dataDir = mkdtempSync(path.join(tmpdir(), 'seitech-chat-demo-'));
const running = new Set();
after(() => {
  for (const p of running) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
  rmSync(dataDir, { recursive: true, force: true });
});

/** The gateway in demo mode, with no JWT_SECRET anywhere in its environment. */
async function startDemo() {
  const env = { ...process.env, RUST_LOG: 'warn' };
  delete env.JWT_SECRET;
  const proc = spawn(gatewayBin(), ['--demo', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir], {
    cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  running.add(proc);
  let out = '';
  let err = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { err += d; });
  proc.stdout.setEncoding('utf8');
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listening line; stderr: ${err.slice(-2000)}`)), 20_000);
    proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`exited ${code}: ${err.slice(-2000)}`)); });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
  });
  proc.removeAllListeners('exit');
  const exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  return {
    url,
    async stop() {
      process.kill(-proc.pid, 'SIGTERM');
      const code = await exited;
      running.delete(proc);
      return code;
    },
  };
}

async function session(url, token) {
  const socket = record(io(url, { auth: { token }, forceNew: true, reconnection: false }));
  try {
    const failed = once(socket, 'connect_error', 10_000).then((e) => { throw new Error(`refused: ${e.message}`); });
    failed.catch(() => {});
    return await Promise.race([waitFor(socket, 'session', () => true, 10_000), failed]);
  } finally {
    socket.disconnect();
  }
}

test('a demo token survives a restart; the secret file is private', async () => {
  const first = await startDemo();
  const { token } = await (await fetchT(`${first.url}/dev/token?user=1`)).json();
  assert.equal(typeof token, 'string');
  assert.equal((await session(first.url, token)).userId, '1');
  assert.equal(await first.stop(), 0);

  const file = path.join(dataDir, 'demo-jwt-secret');
  assert.equal(statSync(file).mode & 0o777, 0o600, 'only the owner may read the demo secret');

  const second = await startDemo();
  const again = await session(second.url, token);
  assert.equal(again.userId, '1', 'the token from before the restart is accepted');
  assert.equal(await second.stop(), 0);
});
