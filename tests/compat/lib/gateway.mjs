// Test harness for the seitech-chat gateway binary.
//
// startGateway() spawns the real binary (GATEWAY_BIN, default
// target/debug/seitech-chat under the repo root) on 127.0.0.1 with `--port 0`,
// a fresh temp data dir, the directory fixture and a per-gateway JWT secret, and
// resolves once the binary prints its `listening on` line (bounded). stop()
// sends SIGTERM and waits (bounded) for the process to exit.
//
// Every socket made by connect() records every server event it receives
// (socket.onAny) so that waitFor() also finds events that arrived before it was
// called. waitFor() consumes the first matching event, so consecutive waitFor()
// calls for the same event find consecutive occurrences. To assert that an event
// does NOT arrive, send a marker through the same path, waitFor() the marker and
// then call assertNone(): the unwanted event would have been delivered before it.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import jwt from 'jsonwebtoken';

const here = path.dirname(fileURLToPath(import.meta.url));

// COMPAT_DATABASE_URL (an admin URL of a PostgreSQL server, e.g.
// postgres://postgres@127.0.0.1:5432/postgres): every gateway runs on the
// PostgreSQL store, in a database of its own that stop() drops (crash() and
// keep() keep it for a restart, which passes `databaseUrl`). Unset: SQLite.
const PG_ADMIN = process.env.COMPAT_DATABASE_URL || '';

function psql(url, sql) {
  return execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-tAc', sql], { encoding: 'utf8', timeout: 30000 }).trim();
}

function withDatabase(url, db) {
  const u = new URL(url);
  u.pathname = '/' + db;
  return u.toString();
}

function createDatabase() {
  const name = `compat_${process.pid}_${randomBytes(6).toString('hex')}`;
  psql(PG_ADMIN, `CREATE DATABASE ${name}`);
  return withDatabase(PG_ADMIN, name);
}

function dropDatabase(url) {
  const name = new URL(url).pathname.slice(1);
  try { psql(PG_ADMIN, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } catch (e) { console.error(`cannot drop ${name}: ${e.message}`); }
}
export const REPO_ROOT = path.resolve(here, '..', '..', '..');
export const FIXTURE_DIRECTORY = path.join(REPO_ROOT, 'tests', 'fixtures', 'directory.json');
export const DIRECTORY = JSON.parse(readFileSync(FIXTURE_DIRECTORY, 'utf8'));

export const DEFAULT_TIMEOUT_MS = Number(process.env.COMPAT_TIMEOUT_MS || 5000);
const START_TIMEOUT_MS = Number(process.env.GATEWAY_START_TIMEOUT_MS || 20000);
const STOP_TIMEOUT_MS = 10000;

export function gatewayBin() {
  const bin = process.env.GATEWAY_BIN || path.join('target', 'debug', 'seitech-chat');
  return path.isAbsolute(bin) ? bin : path.join(REPO_ROOT, bin);
}

export function userById(id) {
  const u = DIRECTORY.users.find((x) => x.id === String(id));
  if (!u) throw new Error(`fixture has no user ${id}`);
  return u;
}

export function agentById(id) {
  return DIRECTORY.agents.find((a) => a.userId === String(id));
}

/**
 * Start a gateway. `args` are extra CLI flags (e.g. ['--message-burst', '3']).
 * Returns { url, port, secret, dataDir, proc, stop(), token(), health(), metrics(), stderr() }.
 */
export async function startGateway({ args = [], env = {}, directoryFile = FIXTURE_DIRECTORY, highRate = true, dataDir: reuseDir, secret: reuseSecret, databaseUrl: reuseDb } = {}) {
  // a restart test passes the previous gateway's dataDir and secret
  const dataDir = reuseDir || mkdtempSync(path.join(tmpdir(), 'seitech-chat-compat-'));
  const secret = reuseSecret || 'compat-' + randomBytes(16).toString('hex');
  const fullArgs = [
    '--host', '127.0.0.1',
    '--port', '0',
    '--data-dir', dataDir,
    '--jwt-secret', secret,
  ];
  if (directoryFile) fullArgs.push('--directory-file', directoryFile);
  // Most suites send many messages quickly; they are not testing the rate
  // limiter, so raise it unless the caller asks otherwise (the rate-limit tests
  // start their own gateway with a low burst).
  if (highRate && !args.includes('--message-burst')) {
    fullArgs.push('--message-burst', '100000', '--message-rate-per-minute', '1000000');
  }
  fullArgs.push(...args);
  const databaseUrl = PG_ADMIN ? (reuseDb || createDatabase()) : null;
  if (databaseUrl) fullArgs.push('--database-url', databaseUrl);

  // COMPAT_REDIS_URL: every gateway keeps its support desk in that Redis,
  // under a prefix of its own (a restart passes the previous one in `env`).
  const redisEnv = process.env.COMPAT_REDIS_URL
    ? { REDIS_URL: process.env.COMPAT_REDIS_URL, REDIS_DESK_PREFIX: `{desk-${randomBytes(6).toString('hex')}}` }
    : {};
  const bin = gatewayBin();
  // detached: the gateway gets its own process group, so stop() can signal the
  // group it started (a wrapper script's children included) by its id.
  const proc = spawn(bin, fullArgs, {
    cwd: dataDir,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', ...redisEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  started.add(proc);
  let stderrBuf = '';
  let stdoutBuf = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    stderrBuf += d;
    if (stderrBuf.length > 200_000) stderrBuf = stderrBuf.slice(-100_000);
    if (process.env.GATEWAY_LOG) process.stderr.write(d);
  });
  proc.stdout.setEncoding('utf8');

  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`gateway did not print its listening line within ${START_TIMEOUT_MS} ms\n` +
        `stdout: ${stdoutBuf}\nstderr: ${stderrBuf.slice(-4000)}`));
    }, START_TIMEOUT_MS);
    proc.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${bin}: ${e.message}`)); });
    proc.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited early (code ${code}, signal ${sig})\nstdout: ${stdoutBuf}\nstderr: ${stderrBuf.slice(-4000)}`));
    });
    proc.stdout.on('data', (d) => {
      stdoutBuf += d;
      const m = stdoutBuf.match(/seitech-chat listening on (http:\/\/127\.0\.0\.1:(\d+))/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  });
  proc.removeAllListeners('exit');
  // On PostgreSQL, make sure the gateway really uses it: its migrations ran there.
  if (databaseUrl) assert.ok(Number(psql(databaseUrl, 'SELECT count(*) FROM schema_migrations')) >= 1, 'the gateway migrated its PostgreSQL database');
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));

  const sockets = new Set();
  let keepData = false;
  const gw = {
    url,
    port: Number(new URL(url).port),
    secret,
    dataDir,
    databaseUrl,
    proc,
    sockets,
    exited,
    stderr: () => stderrBuf,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    /** Mint an HS256 JWT for a fixture user (or any claims given in `over`). */
    token(userId, over = {}) {
      const u = DIRECTORY.users.find((x) => x.id === String(userId));
      const claims = {
        sub: String(userId),
        name: u ? u.name : `User ${userId}`,
        role: u ? u.role : 'student',
        exp: Math.floor(Date.now() / 1000) + 3600,
      };
      const a = agentById(userId);
      if (a) claims.department = a.department;
      return jwt.sign({ ...claims, ...over }, over.__secret || secret, { algorithm: 'HS256' });
    },
    async health() {
      const res = await fetchT(`${url}/health`);
      const body = await res.json();
      return { status: res.status, body };
    },
    async metrics() {
      const res = await fetchT(`${url}/metrics`);
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    },
    /** Close every socket this harness opened on the gateway (e.g. after a failed test). */
    async disconnectAll() {
      for (const s of sockets) { try { s.disconnect(); } catch { /* ignore */ } }
      sockets.clear();
      await until(async () => (await gw.health()).body.connections === 0, 'every socket closed');
    },
    /** SIGTERM, then wait (bounded) for the exit; resolves with { code, signal }. */
    async stop() {
      for (const s of sockets) { try { s.disconnect(); } catch { /* ignore */ } }
      sockets.clear();
      let result = null;
      if (gw.alive()) {
        signalGroup(proc, 'SIGTERM');
        let t;
        result = await Promise.race([exited, new Promise((r) => { t = setTimeout(() => r(null), STOP_TIMEOUT_MS); })]);
        clearTimeout(t);
        if (!result) { signalGroup(proc, 'SIGKILL'); result = await exited; result.forced = true; }
      }
      // a grandchild holding the pipes must not keep the test process alive
      signalGroup(proc, 'SIGKILL');
      proc.stdout.destroy();
      proc.stderr.destroy();
      started.delete(proc);
      if (!keepData) {
        try { rmSync(dataDir, { recursive: true, force: true }); } catch { /* ignore */ }
        if (databaseUrl) dropDatabase(databaseUrl);
      }
      return result;
    },
    /** SIGKILL the gateway (crash), keeping its data dir for a restart. */
    async crash() {
      keepData = true;
      signalGroup(proc, 'SIGKILL');
      await exited;
      return gw.stop();
    },
    /** Keep the data dir on stop() (for a restart on the same store). */
    keep() { keepData = true; },
  };
  return gw;
}

const started = new Set();
function signalGroup(proc, sig) {
  try { process.kill(-proc.pid, sig); } catch { /* already gone */ }
}
// never leave a gateway behind if the test process ends abruptly
process.on('exit', () => { for (const p of started) signalGroup(p, 'SIGKILL'); });

export function delay(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export async function fetchT(url, opts = {}, ms = DEFAULT_TIMEOUT_MS) {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), ms);
  try {
    return await fetch(url, { ...opts, signal: ac.signal });
  } finally {
    clearTimeout(t);
  }
}

/** Attach an event recorder to a socket (idempotent). */
export function record(socket) {
  if (socket.__log) return socket;
  socket.__log = [];
  socket.__waiters = new Set();
  socket.onAny((event, ...args) => {
    const entry = { event, args, consumed: false, at: Date.now() };
    socket.__log.push(entry);
    for (const w of [...socket.__waiters]) w(entry);
  });
  return socket;
}

/**
 * Wait for the first not-yet-consumed `event` whose first argument satisfies
 * `predicate`; rejects after `ms`. Resolves with that first argument.
 */
export function waitFor(socket, event, predicate = () => true, ms = DEFAULT_TIMEOUT_MS) {
  record(socket);
  const matches = (e) => {
    if (e.consumed || e.event !== event) return false;
    try { return !!predicate(e.args[0], ...e.args.slice(1)); } catch { return false; }
  };
  const found = socket.__log.find(matches);
  if (found) { found.consumed = true; return Promise.resolve(found.args[0]); }
  return new Promise((resolve, reject) => {
    const waiter = (e) => {
      if (matches(e)) {
        e.consumed = true;
        clearTimeout(timer);
        socket.__waiters.delete(waiter);
        resolve(e.args[0]);
      }
    };
    const timer = setTimeout(() => {
      socket.__waiters.delete(waiter);
      const seen = socket.__log.filter((e) => e.event === event).map((e) => JSON.stringify(e.args[0])).slice(-5);
      reject(new Error(`timed out after ${ms} ms waiting for "${event}"` +
        (seen.length ? `; recent "${event}" payloads: ${seen.join(' | ')}` : `; none received`) +
        `; events seen: ${[...new Set(socket.__log.map((e) => e.event))].join(', ') || 'none'}`));
    }, ms);
    socket.__waiters.add(waiter);
  });
}

/** Every recorded, not-consumed `event` payload matching predicate. */
export function received(socket, event, predicate = () => true) {
  record(socket);
  return socket.__log.filter((e) => !e.consumed && e.event === event && (() => {
    try { return !!predicate(e.args[0]); } catch { return false; }
  })()).map((e) => e.args[0]);
}

/** Assert no (unconsumed) `event` matching predicate was received. Call after a marker. */
export function assertNone(socket, event, predicate = () => true, what = '') {
  const got = received(socket, event, predicate);
  assert.equal(got.length, 0, `unexpected "${event}" ${what}: ${JSON.stringify(got).slice(0, 500)}`);
}

/** Mark every recorded `event` consumed (forget what arrived so far). */
export function drain(socket, event) {
  record(socket);
  for (const e of socket.__log) if (!event || e.event === event) e.consumed = true;
}

/** Wait for a reserved socket event (connect, connect_error, disconnect). */
export function once(emitter, event, ms = DEFAULT_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, h);
      reject(new Error(`timed out after ${ms} ms waiting for "${event}"`));
    }, ms);
    timer.unref?.();
    const h = (...a) => { clearTimeout(timer); resolve(a[0]); };
    emitter.once(event, h);
  });
}

/**
 * Open a socket. `who` is a fixture user id (a JWT is minted), or
 * { token } for an explicit token, or null/undefined for a guest.
 * Resolves to the socket once `session` has arrived; socket.session holds it.
 *
 * A transport failure before the handshake completed (engine.io-client's
 * "xhr poll error" or "websocket error", the gateway still running) is tried
 * once more with a new socket, as every real client does with its
 * reconnection, and reported on stderr with its details. The known cause is
 * a race inside engineioxide 0.17.9: a poll that meets the websocket upgrade
 * of its own session is answered 400 and the session closed
 * (tools/upgrade-race.mjs reproduces it, about 1 poll in 3000 when aligned on
 * purpose). A second failure, any refusal by the gateway (connect_error with
 * a message of its own) and a gateway that exited fail the caller as before.
 */
export async function connect(gw, who, options = {}) {
  try {
    return await connectOnce(gw, who, options);
  } catch (e) {
    if (!(e instanceof TransportFailure) || !gw.alive?.()) throw e;
    gw.transportRetries = (gw.transportRetries || 0) + 1;
    console.error(`compat harness: connect retried after a transport failure: ${e.message.split('\n')[0]}`);
    return connectOnce(gw, who, options);
  }
}

class TransportFailure extends Error {}

async function connectOnce(gw, who, { transports, timeoutMs = DEFAULT_TIMEOUT_MS, waitSession = true, ...rest } = {}) {
  let auth;
  if (who === null || who === undefined) auth = {};
  else if (typeof who === 'object') auth = { token: who.token };
  else auth = { token: gw.token(who) };
  const opts = { auth, forceNew: true, reconnection: false, timeout: timeoutMs, ...rest };
  if (transports) opts.transports = transports;
  const socket = io(gw.url, opts);
  record(socket);
  gw.sockets.add(socket);
  if (!waitSession) return socket;
  const sessionP = waitFor(socket, 'session', () => true, timeoutMs);
  const errP = once(socket, 'connect_error', timeoutMs + 1000).then((e) => {
    // a transport error carries the HTTP status or socket error in
    // `description`; the gateway's last log lines say what it thought
    const transport = e && e.type === 'TransportError';
    const detail = transport ? ` (${describeTransportError(e)})` : '';
    const state = gw.alive ? (gw.alive() ? 'gateway running' : `gateway exited (${gw.proc.exitCode ?? gw.proc.signalCode})`) : '';
    const Failure = transport ? TransportFailure : Error;
    throw new Failure(`connect_error: ${e && e.message}${detail}; ${state}\ngateway stderr: ${gw.stderr ? gw.stderr().slice(-2000) : ''}`);
  });
  errP.catch(() => {});
  try {
    socket.session = await Promise.race([sessionP, errP]);
  } catch (e) {
    if (e instanceof TransportFailure) { socket.disconnect(); gw.sockets.delete(socket); }
    throw e;
  }
  return socket;
}

// engine.io-client's TransportError: `description` is the HTTP status (0
// when the request itself failed), `context` the XMLHttpRequest, whose
// statusText holds the socket error and responseText the server's answer.
function describeTransportError(e) {
  const d = e.description;
  const xhr = e.context || {};
  const parts = [typeof d === 'number' ? (d === 0 ? 'no HTTP response' : `HTTP ${d}`) : String(d)];
  const cause = xhr.statusText;
  if (cause) parts.push(cause instanceof Error ? `${cause.code || cause.name}: ${cause.message}` : String(cause));
  if (typeof xhr.responseText === 'string' && xhr.responseText) parts.push(`body ${xhr.responseText.slice(0, 200)}`);
  return parts.join(', ');
}

/** Connect and expect a connect_error; resolves with the error. */
export async function connectFails(gw, auth, opts = {}) {
  const socket = io(gw.url, { auth, forceNew: true, reconnection: false, timeout: DEFAULT_TIMEOUT_MS, ...opts });
  record(socket);
  gw.sockets.add(socket);
  const sessionP = waitFor(socket, 'session', () => true, DEFAULT_TIMEOUT_MS + 1000).then((s) => {
    throw new Error(`expected connect_error but got session ${JSON.stringify(s)}`);
  });
  sessionP.catch(() => {});
  try {
    return await Promise.race([once(socket, 'connect_error', DEFAULT_TIMEOUT_MS), sessionP]);
  } finally {
    socket.disconnect();
  }
}

/** Emit with ack, bounded. */
export function ack(socket, event, ...args) {
  return socket.timeout(DEFAULT_TIMEOUT_MS).emitWithAck(event, ...args);
}

/** Emit with ack and assert ok:true; returns the ack. */
export async function ok(socket, event, ...args) {
  const res = await ack(socket, event, ...args);
  assert.equal(res && res.ok, true, `${event} ${JSON.stringify(args).slice(0, 300)} → ${JSON.stringify(res)}`);
  return res;
}

/** Emit with ack and assert { ok:false, error:{ code } }; returns the ack. */
export async function fails(socket, code, event, ...args) {
  const res = await ack(socket, event, ...args);
  assert.ok(res && typeof res === 'object', `${event} ack is not an object: ${JSON.stringify(res)}`);
  assert.equal(res.ok, false, `${event} ${JSON.stringify(args).slice(0, 300)} should fail with ${code}, got ${JSON.stringify(res).slice(0, 500)}`);
  assert.ok(res.error && typeof res.error === 'object', `error object missing: ${JSON.stringify(res)}`);
  if (Array.isArray(code)) {
    assert.ok(code.includes(res.error.code), `${event} expected one of ${code}, got ${JSON.stringify(res.error)}`);
  } else {
    assert.equal(res.error.code, code, `${event} ${JSON.stringify(args).slice(0, 200)} → ${JSON.stringify(res.error)}`);
  }
  assert.equal(typeof res.error.message, 'string', 'error.message is a string');
  return res;
}

/** Poll `fn` until it returns truthy; bounded in time and count. */
export async function until(fn, what, ms = DEFAULT_TIMEOUT_MS, everyMs = 25) {
  const deadline = Date.now() + ms;
  let last;
  for (let i = 0; i < Math.ceil(ms / everyMs) + 1; i++) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) break;
    await delay(everyMs);
  }
  throw new Error(`timed out after ${ms} ms waiting until ${what}; last value ${JSON.stringify(last)}`);
}

/** Wait until /health reports exactly n connections (used after client-side disconnects). */
export async function untilConnections(gw, n) {
  return until(async () => {
    const h = await gw.health();
    return h.body && h.body.connections === n ? h : null;
  }, `/health connections == ${n}`);
}

export async function assertHealthy(gw) {
  assert.ok(gw.alive(), `gateway process died; stderr:\n${gw.stderr().slice(-3000)}`);
  const h = await gw.health();
  assert.equal(h.status, 200, `/health status ${h.status}`);
  assert.equal(h.body.status, 'ok');
}

export const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Check the §4 message object shape. */
export function assertMessage(m, expect = {}) {
  assert.ok(m && typeof m === 'object', `message is an object: ${JSON.stringify(m)}`);
  assert.match(m.id, UUIDV7, 'message id is a UUIDv7 string');
  assert.equal(typeof m.roomId, 'string');
  assert.equal(typeof m.authorId, 'string');
  assert.equal(typeof m.authorName, 'string');
  assert.equal(typeof m.content, 'string');
  assert.ok(['text', 'file', 'system'].includes(m.type), `type ${m.type}`);
  assert.ok(Array.isArray(m.attachments), 'attachments is an array');
  assert.ok(m.parentId === null || typeof m.parentId === 'string', 'parentId null or string');
  assert.ok(m.clientId === null || m.clientId === undefined || typeof m.clientId === 'string', 'clientId');
  assert.match(m.createdAt, ISO, 'createdAt is ISO-8601');
  assert.ok(m.editedAt === null || ISO.test(m.editedAt), `editedAt null or ISO: ${m.editedAt}`);
  for (const [k, v] of Object.entries(expect)) assert.deepEqual(m[k], v, `message.${k}`);
  return m;
}

let seq = 0;
/** A unique marker string for message contents. */
export function uniq(prefix = 'm') {
  seq += 1;
  return `${prefix}-${process.pid}-${seq}-${randomBytes(3).toString('hex')}`;
}

/** Send a message and wait until `receivers` all got it (the marker pattern). */
export async function sendAndSee(sender, roomId, receivers, content = uniq('marker')) {
  const res = await ok(sender, 'message', { roomId, content });
  for (const r of receivers) await waitFor(r, 'message', (m) => m && m.id === res.message.id);
  return res.message;
}

/** Open (find or create) the direct conversation between `a` and user id `otherId` via recipientId. */
export async function directRoom(a, otherId) {
  const res = await ok(a, 'message', { recipientId: String(otherId), content: uniq('hello') });
  return res.message.roomId;
}
