// Test harness for several gateway nodes (issue 14): a real redis-server on
// an ephemeral loopback port, one fresh PostgreSQL database shared by the
// nodes (COMPAT_DATABASE_URL, an admin URL), and gateways started with
// REDIS_URL, DATABASE_URL and NODE_ID (tests/compat/lib/gateway.mjs).
//
// ClusterClient is a client as a real one behaves across node restarts: it
// connects to a live node, and whenever its socket goes away (node drained,
// killed, or the gateway disconnecting it to resync) it connects again to a
// live node and runs `sync` from its last synced message. It keeps every
// message of its room it received, live or by sync, by id.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { io } from 'socket.io-client';
import jwt from 'jsonwebtoken';
import { startGateway, delay, DIRECTORY } from './gateway.mjs';

export const PG_ADMIN = process.env.COMPAT_DATABASE_URL || '';
export const HAVE_REDIS = (() => {
  try { execFileSync('redis-server', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
})();
export const SKIP = (!PG_ADMIN && 'needs COMPAT_DATABASE_URL (PostgreSQL)') || (!HAVE_REDIS && 'needs redis-server') || false;

function psql(url, sql) {
  return execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-tAc', sql], { encoding: 'utf8', timeout: 30000 }).trim();
}

/** A fresh database on the PostgreSQL server; returns { url, drop() }. */
export function freshDatabase() {
  const name = `cluster_${process.pid}_${randomBytes(6).toString('hex')}`;
  psql(PG_ADMIN, `CREATE DATABASE ${name}`);
  const u = new URL(PG_ADMIN);
  u.pathname = '/' + name;
  return {
    url: u.toString(),
    drop() {
      try { psql(PG_ADMIN, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } catch (e) { console.error(`cannot drop ${name}: ${e.message}`); }
    },
  };
}

/** A free TCP port on 127.0.0.1 (redis-server needs a number, not 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start redis-server on an ephemeral loopback port, no persistence.
 * Returns { url, port, stop(), restart() } (restart: same port, empty).
 */
export async function startRedis() {
  const port = await freePort();
  let proc = null;
  const launch = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10000);
      proc.stdout.on('data', (d) => {
        out += d;
        if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); }
      });
      proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited (${code}): ${out}`)); });
    });
    proc.removeAllListeners('exit');
  };
  const stop = async () => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  await launch();
  process.on('exit', () => { try { proc?.kill('SIGKILL'); } catch { /* gone */ } });
  return { url: `redis://127.0.0.1:${port}`, port, stop, async restart() { await stop(); await launch(); } };
}

/** Start one node of the cluster. */
export async function startNode({ redis, db, secret, id, args = [], env = {}, highRate = true }) {
  const gw = await startGateway({
    args,
    highRate,
    databaseUrl: db.url,
    secret,
    env: { REDIS_URL: redis.url, NODE_ID: id, ...env },
  });
  gw.keep(); // the test drops the shared database itself
  gw.nodeId = id;
  return gw;
}

/** A JWT for a fixture user, signed with the cluster's secret. */
export function tokenFor(secret, userId) {
  const u = DIRECTORY.users.find((x) => x.id === String(userId));
  return jwt.sign(
    { sub: String(userId), name: u ? u.name : `User ${userId}`, role: u ? u.role : 'student', exp: Math.floor(Date.now() / 1000) + 3600 },
    secret,
    { algorithm: 'HS256' },
  );
}

/** A counter from a /metrics text, summed over label sets matching `labels`. */
export function metric(text, name, labels = '') {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Every message of `roomId` after `since`, through `sync`, page by page (bounded). */
export async function syncRoom(socket, since, roomId) {
  const out = [];
  let cursor = since;
  for (let page = 0; page < 200; page++) {
    // An id the store does not know reads as "from the beginning".
    const res = await socket.timeout(10000).emitWithAck('sync', { since: cursor ?? '00000000-0000-7000-8000-000000000000' });
    if (!res || res.ok !== true) throw new Error(`sync failed: ${JSON.stringify(res)}`);
    out.push(...res.messages.filter((m) => m.roomId === roomId));
    if (!res.hasMore || res.messages.length === 0) return out;
    cursor = res.messages[res.messages.length - 1].id;
  }
  throw new Error('sync did not finish in 200 pages');
}

export class ClusterClient {
  /**
   * `nodes()` returns the live nodes to (re)connect to; `index` spreads the
   * clients over them. `since` is the id of a message every client has.
   */
  constructor({ secret, userId, roomId, since, nodes, index }) {
    Object.assign(this, { secret, userId, roomId, nodes, index });
    this.cursor = since; // the last message id a completed sync returned
    this.seen = new Map(); // id -> message, live or synced
    this.socket = null;
    this.nodeId = null;
    this.connects = 0;
    this.closed = false;
    this.ready = null; // a promise: connected, rooms joined, sync done
    this.disconnects = [];
  }

  /** Connect (or reconnect) to a live node, then sync; bounded. */
  async connect() {
    const deadline = Date.now() + 30000;
    for (let attempt = 0; attempt < 200 && !this.closed; attempt++) {
      if (Date.now() > deadline) break;
      const live = this.nodes();
      if (live.length === 0) { await delay(50); continue; }
      const node = live[(this.index + attempt) % live.length];
      try {
        await this.#open(node);
        return;
      } catch {
        await delay(50 + 25 * Math.min(attempt, 8));
      }
    }
    if (!this.closed) throw new Error(`client ${this.index} could not reconnect within 30 s`);
  }

  async #open(node) {
    const socket = io(node.url, {
      auth: { token: tokenFor(this.secret, this.userId) }, forceNew: true, reconnection: false, timeout: 5000,
    });
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => { socket.close(); reject(new Error('no session')); }, 6000);
      socket.once('session', () => { clearTimeout(t); resolve(); });
      socket.once('connect_error', (e) => { clearTimeout(t); socket.close(); reject(e); });
      socket.once('disconnect', () => { clearTimeout(t); reject(new Error('disconnected before the session')); });
    });
    socket.on('message', (m) => { if (m && m.roomId === this.roomId) this.seen.set(m.id, m); });
    this.socket = socket;
    this.nodeId = node.nodeId;
    this.connects += 1;
    // Catch up from the last synced message, before counting as ready.
    let synced;
    try {
      synced = await syncRoom(socket, this.cursor, this.roomId);
    } catch (e) {
      socket.close();
      throw e;
    }
    for (const m of synced) this.seen.set(m.id, m);
    if (synced.length) this.cursor = synced[synced.length - 1].id;
    socket.once('disconnect', (reason) => {
      this.disconnects.push({ reason, node: node.nodeId, at: Date.now() });
      if (this.closed || this.socket !== socket) return;
      this.socket = null;
      this.ready = this.connect();
      this.ready.catch(() => {});
    });
  }

  /** Waits until the client is connected (bounded). */
  async connected() {
    for (let i = 0; i < 600 && !this.socket; i++) {
      if (this.ready) await Promise.race([this.ready, delay(100)]);
      else await delay(50);
    }
    if (!this.socket) throw new Error(`client ${this.index} is not connected`);
    return this.socket;
  }

  /**
   * Sends a message with a clientId; on a lost ack (node gone) resends the
   * same clientId after reconnecting, as a real client does (the store keeps
   * it once). Resolves with the acked message.
   */
  async send(content) {
    const clientId = `${this.index}-${randomBytes(6).toString('hex')}`;
    for (let attempt = 0; attempt < 50; attempt++) {
      const socket = await this.connected();
      try {
        const res = await socket.timeout(5000).emitWithAck('message', { roomId: this.roomId, content, clientId });
        if (res && res.ok) return res.message;
      } catch { /* no ack: the node went away; resend */ }
      await delay(50);
    }
    throw new Error(`client ${this.index} could not send "${content}"`);
  }

  close() {
    this.closed = true;
    try { this.socket?.close(); } catch { /* gone */ }
  }
}
