// scripts/run.sh as the README tells a newcomer to use it: the ports come
// from GATEWAY_PORT/FRONTEND_PORT (a generic PORT in the shell changes
// nothing), demo mode listens on 127.0.0.1 only, and a SIGTERM to the script
// stops everything it started (next-server used to keep its port). It uses
// the gateway binary under test (GATEWAY_BIN) and the app built by `next
// build` before the e2e tests, so it builds nothing here.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT, freePort, gatewayBin } from './harness.mjs';

const T = 120000;

function canConnect(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (v) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function until(fn, what, ms = T) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${ms} ms: ${what}`);
}

/** Processes whose command line mentions `needle` (other than this test's own). */
function processesWith(needle) {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(needle) && !l.includes('ps -eo'))
    .map((l) => l.trim());
}

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress() {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

describe('scripts/run.sh', () => {
  it('serves on GATEWAY_PORT/FRONTEND_PORT, on loopback only, and SIGTERM stops everything it started', { timeout: 4 * T }, async () => {
    const gatewayPort = await freePort();
    const frontendPort = await freePort();
    const decoy = await freePort(); // a PORT the shell happens to have set
    const dataDir = mkdtempSync(path.join(tmpdir(), 'seitech-run-'));
    const proc = spawn('bash', [path.join(REPO_ROOT, 'scripts', 'run.sh')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        PORT: String(decoy),
        GATEWAY_PORT: String(gatewayPort),
        FRONTEND_PORT: String(frontendPort),
        GATEWAY_BIN: gatewayBin(),
        DATA_DIR: dataDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    proc.stdout.on('data', (d) => (log += d));
    proc.stderr.on('data', (d) => (log += d));
    const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      await until(async () => {
        if (proc.exitCode !== null) throw new Error(`run.sh exited early:\n${log}`);
        try {
          const [g, w] = await Promise.all([
            fetch(`http://127.0.0.1:${gatewayPort}/health`, { signal: AbortSignal.timeout(3000) }),
            fetch(`http://127.0.0.1:${frontendPort}/`, { signal: AbortSignal.timeout(3000) }),
          ]);
          return g.ok && w.ok;
        } catch {
          return false;
        }
      }, `gateway on ${gatewayPort} and app on ${frontendPort}`);
      assert.match(log, /app is built already/, `run.sh reused the app build:\n${log}`);
      assert.equal(await canConnect('127.0.0.1', decoy), false, 'nothing listens on the generic PORT');
      // Demo mode hands out tokens: not reachable from other machines.
      const ext = externalAddress();
      if (ext) {
        assert.equal(await canConnect(ext, gatewayPort), false, `gateway not on ${ext}`);
        assert.equal(await canConnect(ext, frontendPort), false, `app not on ${ext}`);
      }
      const users = await (await fetch(`http://127.0.0.1:${gatewayPort}/dev/users`)).json();
      assert.deepEqual(
        users.users.filter((u) => u.role === 'support-agent').map((u) => [u.name, u.department]).sort(),
        [['Bea Billing', 'billing'], ['Gus General', 'general'], ['Sam Agent', 'support'], ['Sue Sales', 'sales']],
      );
      assert.ok(processesWith(String(frontendPort)).length > 0, 'the app process is visible to ps');
    } finally {
      proc.kill('SIGTERM');
      let timer;
      const how = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r(null), 30000)))]);
      clearTimeout(timer);
      assert.ok(how, `run.sh did not exit within 30 s of SIGTERM:\n${log}`);
      rmSync(dataDir, { recursive: true, force: true });
    }
    // Everything it started is gone: both ports closed, no process left.
    await until(async () => !(await canConnect('127.0.0.1', frontendPort)) && !(await canConnect('127.0.0.1', gatewayPort)), 'ports released', 15000);
    assert.deepEqual(processesWith(`-p ${frontendPort}`), []);
    assert.deepEqual(processesWith(`--port ${gatewayPort}`), []);
  });
});
