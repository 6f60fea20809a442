// End-to-end harness: the real gateway binary, the built Next app, a tiny
// SMTP sink for transcripts, and Debian's Chromium driven by playwright-core.
// Everything listens on 127.0.0.1 only; every wait is bounded.

import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FRONTEND = path.resolve(here, '..');
export const REPO_ROOT = path.resolve(FRONTEND, '..');
export const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
export const DIRECTORY_FILE = path.join(here, 'directory.json');

export function gatewayBin() {
  const bin = process.env.GATEWAY_BIN || path.join('..', 'target', 'debug', 'seitech-chat');
  return path.isAbsolute(bin) ? bin : path.resolve(FRONTEND, bin);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

function stopProcess(proc, ms = 10000) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      resolve();
    }, ms);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/**
 * Starts the gateway; resolves with its URL once it prints its listening line.
 * `directoryFile: null` runs on the demo's own directory (what `run.sh` shows).
 */
export async function startGateway({ frontendUrl, smtpUrl, extraArgs = [], directoryFile = DIRECTORY_FILE }) {
  const bin = gatewayBin();
  if (!existsSync(bin)) throw new Error(`gateway binary not found at ${bin} (build it with cargo build -p chat-gateway, or set GATEWAY_BIN)`);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'seitech-chat-e2e-'));
  const args = [
    '--host', '127.0.0.1',
    '--port', '0',
    '--demo',
    '--data-dir', dataDir,
    ...(directoryFile ? ['--directory-file', directoryFile] : []),
    '--frontend-url', frontendUrl,
    '--message-burst', '1000',
    '--message-rate-per-minute', '100000',
  ];
  if (smtpUrl) args.push('--smtp-url', smtpUrl, '--mail-from', 'chat@localhost');
  args.push(...extraArgs);
  const proc = spawn(bin, args, { cwd: dataDir, env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20000);
  });
  const url = await withTimeout(
    new Promise((resolve, reject) => {
      let out = '';
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/seitech-chat listening on (http:\/\/\S+)/);
        if (m) resolve(m[1]);
      });
      proc.once('exit', (code) => reject(new Error(`gateway exited (${code}) before listening:\n${stderr}`)));
    }),
    30000,
    'gateway start',
  );
  return {
    url,
    stderr: () => stderr,
    async stop() {
      await stopProcess(proc);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Starts the production build (`next build` must have run) on a given port. */
export async function startWeb({ port, chatUrl }) {
  if (!existsSync(path.join(FRONTEND, '.next', 'BUILD_ID'))) throw new Error('no production build: run `npm run build` first');
  const nextBin = path.join(FRONTEND, 'node_modules', 'next', 'dist', 'bin', 'next');
  const proc = spawn(process.execPath, [nextBin, 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: FRONTEND,
    env: { ...process.env, CHAT_URL: chatUrl, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const add = (d) => {
    log = (log + d).slice(-20000);
  };
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', add);
  proc.stderr.on('data', add);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60000;
  let ready = false;
  while (!ready && Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`next start exited:\n${log}`);
    try {
      const res = await fetch(`${base}/`, { signal: AbortSignal.timeout(5000) });
      ready = res.ok;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (!ready) throw new Error(`next start not ready in 60 s:\n${log}`);
  return { url: base, log: () => log, stop: () => stopProcess(proc) };
}

/** A minimal SMTP server that keeps every message it is given. */
export async function startSmtpSink() {
  const messages = [];
  const waiters = [];
  const server = net.createServer((sock) => {
    sock.setEncoding('utf8');
    let buf = '';
    let inData = false;
    let data = '';
    let rcpt = [];
    sock.write('220 sink ESMTP\r\n');
    sock.on('data', (chunk) => {
      buf += chunk;
      let idx;
      while ((idx = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            const msg = { to: rcpt, data };
            messages.push(msg);
            for (const w of waiters.splice(0)) w(msg);
            data = '';
            rcpt = [];
            sock.write('250 OK queued\r\n');
          } else {
            data += (line.startsWith('..') ? line.slice(1) : line) + '\n';
          }
          continue;
        }
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === 'EHLO') sock.write('250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n');
        else if (cmd === 'HELO') sock.write('250 sink\r\n');
        else if (cmd === 'RCPT') {
          rcpt.push(line.slice(8).trim());
          sock.write('250 OK\r\n');
        } else if (cmd === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
        } else if (cmd === 'QUIT') {
          sock.end('221 bye\r\n');
        } else sock.write('250 OK\r\n');
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    waitFor(pred, ms = 15000) {
      const found = messages.find(pred);
      if (found) return Promise.resolve(found);
      return withTimeout(
        new Promise((resolve) => {
          const check = (m) => (pred(m) ? resolve(m) : waiters.push(check));
          waiters.push(check);
        }),
        ms,
        'transcript email',
      );
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    timeout: 60000,
  });
}

export function artifactsDir() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}

/** A fresh VAPID key pair: the private key as the gateway takes it (base64url raw scalar) and the public point. */
export function vapidKeys() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-65);
  return { privateKey: jwk.d, publicKey: Buffer.from(raw).toString('base64url') };
}
