// Helpers for the Odoo bridge tests (issue 5): the Odoo double of
// tests/odoo_double/ as a child process, a gateway started in Odoo mode
// against it, signed Odoo → gateway pushes (docs/odoo-gateway-api.md §6) and
// bounded polls of /health and of the double's records.
//
// startDouble() spawns `python3 tests/odoo_double/server.py --port 0` with the
// seed tests/fixtures/odoo-seed.json and a fresh push secret, and resolves once
// it prints its listening line (bounded). startOdooGateway(double) starts the
// real gateway binary with ODOO_URL/ODOO_DB/ODOO_USER/ODOO_API_KEY/
// ODOO_PUSH_SECRET pointing at that double and no directory file: users, roles
// and agents come from Odoo.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHmac, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { REPO_ROOT, startGateway, fetchT, until, gatewayBin, DEFAULT_TIMEOUT_MS } from './gateway.mjs';

export const ODOO_SEED_FILE = path.join(REPO_ROOT, 'tests', 'fixtures', 'odoo-seed.json');
export const ODOO_SEED = JSON.parse(readFileSync(ODOO_SEED_FILE, 'utf8'));
const DOUBLE_SCRIPT = path.join(REPO_ROOT, 'tests', 'odoo_double', 'server.py');
const DOUBLE_START_TIMEOUT_MS = 15000;

export const ODOO_DB = ODOO_SEED.db;
export const GATEWAY_LOGIN = 'chat-gateway';
export const GATEWAY_API_KEY = ODOO_SEED.users.find((u) => u.login === GATEWAY_LOGIN).api_keys[0];

const started = new Set();
function killGroup(proc, sig) {
  try { process.kill(-proc.pid, sig); } catch { /* already gone */ }
}
process.on('exit', () => { for (const p of started) killGroup(p, 'SIGKILL'); });

/** A seeded user by id (number or string). */
export function seedUser(id) {
  const u = ODOO_SEED.users.find((x) => String(x.id) === String(id));
  if (!u) throw new Error(`odoo seed has no user ${id}`);
  return u;
}

/** The role Odoo's whois gives a seeded user (docs §3.2: first that applies). */
export function seedRole(id) {
  const u = seedUser(id);
  const groups = new Set(u.groups || []);
  if (groups.has('system')) return 'admin';
  if (groups.has('agent') || groups.has('manager')) return 'support-agent';
  if (ODOO_SEED.courses.some((c) => String(c.responsible_id) === String(id))) return 'instructor';
  if (ODOO_SEED.courses.some((c) => (c.student_ids || []).map(String).includes(String(id)))) return 'student';
  return 'public';
}

export function seedAgent(id) {
  return ODOO_SEED.agents.find((a) => String(a.user_id) === String(id));
}

/** A JWT for a seeded user with the claims /seitech_chat/token gives (docs §5). */
export function odooToken(gw, id, over = {}) {
  const u = seedUser(id);
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: String(id), name: u.name, role: seedRole(id), partner_id: u.partner_id, iat: now, exp: now + 300 };
  const a = seedAgent(id);
  if (a) claims.department = a.department;
  return jwt.sign({ ...claims, ...over }, gw.secret, { algorithm: 'HS256' });
}

/**
 * Start the Odoo double. Returns { url, pushSecret, proc, stop(), records(),
 * faults(switches), resetFaults(), agentReply(body), reassign(body), push(body), authenticate(login, password) }.
 */
export async function startDouble({ seedFile = ODOO_SEED_FILE, pushSecret = randomBytes(32).toString('hex') } = {}) {
  const proc = spawn('python3', [DOUBLE_SCRIPT, '--host', '127.0.0.1', '--port', '0', '--seed', seedFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, ODOO_PUSH_SECRET: pushSecret },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  started.add(proc);
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    err += d;
    if (err.length > 100_000) err = err.slice(-50_000);
    if (process.env.DOUBLE_LOG) process.stderr.write(d);
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `odoo double did not print its listening line within ${DOUBLE_START_TIMEOUT_MS} ms\nstdout: ${out}\nstderr: ${err}`)),
    DOUBLE_START_TIMEOUT_MS);
    proc.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start the odoo double: ${e.message}`)); });
    proc.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`odoo double exited early (code ${code}, signal ${sig})\nstdout: ${out}\nstderr: ${err}`));
    });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/odoo-double listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  });
  proc.removeAllListeners('exit');
  let exitStatus = null;
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => { exitStatus = { code, signal }; resolve(); }));
  // a failed call to the double says whether the double itself is gone
  const call = async (u, opts, ms) => {
    try {
      return await fetchT(u, opts, ms);
    } catch (e) {
      throw new Error(`odoo double ${u}: ${e.message}${e.cause ? ` (${e.cause.code || e.cause.message})` : ''}; ` +
        `double process ${exitStatus ? `exited ${JSON.stringify(exitStatus)}` : 'alive'}; stderr: ${err.slice(-2000)}`);
    }
  };

  async function control(route, body) {
    const res = await call(`${url}/__double__/${route}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body ?? {}),
    }, 15000);
    const json = await res.json();
    if (res.status !== 200) throw new Error(`double ${route} → ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  return {
    url,
    pushSecret,
    proc,
    stderr: () => err,
    alive: () => exitStatus === null,
    /** Conversations, messages (insertion order = arrival order), ops, pushes, calls. */
    async records() {
      const res = await call(`${url}/__double__/records`, {}, 15000);
      return res.json();
    },
    faults: (switches) => control('faults', switches),
    resetFaults: () => control('faults', { reset: true }),
    agentReply: (body) => control('agent_reply', body),
    /** A manager gives a support chat to `agent_id` in the back office; the double pushes it as the addon does. */
    reassign: (body) => control('reassign', body),
    push: (body) => control('push', body),
    /** An agent takes a queued support chat in the back office (action_seitech_take). */
    take: (body) => control('take', body),
    /** The assigned agent or a manager ends a chat in the back office (action_seitech_end). */
    end: (body) => control('end', body),
    /** A manager's Retry on refused items: a signed `retry` push naming their uuids. */
    retryDeadLetters: (body) => control('retry_dead_letters', body),
    /** POST /web/session/authenticate; resolves with the session id of the Set-Cookie. */
    async authenticate(login, password) {
      const res = await fetchT(`${url}/web/session/authenticate`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'call', id: 1, params: { db: ODOO_DB, login, password } }),
      });
      const body = await res.json();
      if (body.error) throw new Error(`authenticate ${login}: ${JSON.stringify(body.error)}`);
      const m = (res.headers.get('set-cookie') || '').match(/session_id=([^;]+)/);
      if (!m) throw new Error(`authenticate ${login}: no session_id cookie`);
      return { sessionId: m[1], info: body.result };
    },
    async stop() {
      killGroup(proc, 'SIGTERM');
      const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(r, 5000, false))]);
      if (!done) { killGroup(proc, 'SIGKILL'); await exited; }
      proc.stdout.destroy();
      proc.stderr.destroy();
      started.delete(proc);
    },
  };
}

let helpText = null;
/** Whether the gateway binary lists a flag in its --help (read once). */
function binaryKnows(flag) {
  if (helpText === null) {
    const r = spawnSync(gatewayBin(), ['--help'], { encoding: 'utf8', timeout: 10000 });
    helpText = `${r.stdout || ''}${r.stderr || ''}`;
  }
  return helpText.includes(flag);
}

/**
 * Start the gateway in Odoo mode against `double`. Connection settings go in
 * the environment (docs §1 names; the API key and the push secret are never
 * put on the command line). The tuning options are passed as flags when the
 * binary lists them in --help, and always as ODOO_* env too, so that a build
 * without the bridge still starts and the tests report what it does instead.
 */
export async function startOdooGateway(double, {
  retryMaxMs = 500, timeoutMs, batchSize, args = [], env = {},
  // Generous: on a loaded machine the double can take seconds to answer whois,
  // and a test that creates a conversation right after connecting needs the
  // users' courses (the gateway's 2 s default would then deny it).
  lookupWaitMs = 10000,
} = {}) {
  const tuning = [['--odoo-retry-max-ms', 'ODOO_RETRY_MAX_MS', retryMaxMs],
    ['--odoo-timeout-ms', 'ODOO_TIMEOUT_MS', timeoutMs],
    ['--odoo-lookup-wait-ms', 'ODOO_LOOKUP_WAIT_MS', lookupWaitMs],
    ['--odoo-batch-size', 'ODOO_BATCH_SIZE', batchSize]];
  const flags = [];
  const tuningEnv = {};
  for (const [flag, name, value] of tuning) {
    if (value === undefined) continue;
    tuningEnv[name] = String(value);
    if (binaryKnows(flag)) flags.push(flag, String(value));
  }
  return startGateway({
    directoryFile: null,
    args: [...flags, ...args],
    env: {
      ODOO_URL: double.url,
      ODOO_DB,
      ODOO_USER: GATEWAY_LOGIN,
      ODOO_API_KEY: GATEWAY_API_KEY,
      ODOO_PUSH_SECRET: double.pushSecret,
      ...tuningEnv,
      ...env,
    },
  });
}

/** body.backends.odoo of /health (asserting /health answers 200). */
export async function odooHealth(gw) {
  const h = await gw.health();
  if (h.status !== 200) throw new Error(`/health answered ${h.status}: ${JSON.stringify(h.body)}`);
  const o = h.body && h.body.backends && h.body.backends.odoo;
  if (!o || typeof o !== 'object') throw new Error(`/health has no backends.odoo: ${JSON.stringify(h.body)}`);
  return o;
}

/** Poll /health until backends.odoo satisfies `pred` (bounded); resolves with it. */
export async function untilOdoo(gw, pred, what, ms = 30000, everyMs = 100) {
  let last = null;
  try {
    return await until(async () => {
      const h = await gw.health();
      last = { status: h.status, body: h.body };
      const o = h.body && h.body.backends && h.body.backends.odoo;
      return o && pred(o) ? o : null;
    }, `/health backends.odoo ${what}`, ms, everyMs);
  } catch (e) {
    throw new Error(`${e.message.replace(/; last value .*$/s, '')}; last /health: ${JSON.stringify(last)}`);
  }
}

/**
 * Wait (bounded) until the outbox is drained: backlog 0 and Odoo reachable
 * (status "ok", or "degraded" while dead letters are parked).
 */
export function untilDrained(gw, ms = 30000) {
  return untilOdoo(gw, (o) => o.backlog === 0 && (o.status === 'ok' || o.status === 'degraded'),
    'status "ok"/"degraded" and backlog 0', ms);
}

/** Messages of one conversation in the double, in arrival order. */
export function messagesOf(records, conversationId) {
  return Object.values(records.messages).filter((m) => m.conversation_id === conversationId);
}

/** Items the gateway sent in all its ingest calls to the double so far. */
export function ingestedItems(records) {
  return records.calls.filter((c) => c.method === 'ingest').reduce((s, c) => s + (c.items || 0), 0);
}

/** Sum of a Prometheus metric's samples (all label sets, or those matching `labelRe`). */
export function metricSum(text, name, labelRe = null) {
  let sum = 0;
  let seen = false;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? ([\\d.e+-]+|NaN)$`, 'gm'))) {
    if (labelRe && !labelRe.test(m[1] || '')) continue;
    seen = true;
    sum += Number(m[2]);
  }
  return seen ? sum : null;
}

/** A UUIDv7 string (as Odoo makes message and event ids). */
export function uuid7() {
  const b = randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) b[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** `sha256=<hex>` of HMAC-SHA256(secret, `${timestamp}.${rawBody}`) (docs §6). */
export function signPush(secret, timestamp, rawBody) {
  return 'sha256=' + createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), Buffer.from(rawBody, 'utf8')]))
    .digest('hex');
}

/** A push event carrying a message written in Odoo (docs §6). */
export function messageEvent(conversationId, { id = uuid7(), authorId = '5', authorName = 'Sam Agent', content, eventId = uuid7(), attachments = [] } = {}) {
  const now = new Date().toISOString();
  return {
    id: eventId,
    type: 'message',
    occurred_at: now,
    data: {
      conversation_id: conversationId,
      message: {
        id, roomId: conversationId, authorId, authorName, content, type: 'text', attachments,
        parentId: null, clientId: null, createdAt: now, editedAt: null,
      },
    },
  };
}

/**
 * POST /internal/odoo/events to the gateway. `headers` overrides (null removes)
 * the signature headers computed from `secret`, `timestamp` and the raw body.
 */
export async function postEvents(gw, { events, raw, secret, timestamp = Math.floor(Date.now() / 1000), headers = {} }) {
  const body = raw ?? JSON.stringify({ version: 1, events });
  const h = { 'Content-Type': 'application/json' };
  if (secret) {
    h['X-Seitech-Timestamp'] = String(timestamp);
    h['X-Seitech-Signature'] = signPush(secret, timestamp, body);
  }
  for (const [k, v] of Object.entries(headers)) {
    if (v === null) delete h[k];
    else h[k] = v;
  }
  const res = await fetchT(`${gw.url}/internal/odoo/events`, { method: 'POST', headers: h, body }, DEFAULT_TIMEOUT_MS);
  return { status: res.status, text: await res.text() };
}

/**
 * Makes the gateway's own database refuse to store any message whose content
 * contains `marker`: a trigger in its store (SQLite `chat.db` in its data dir,
 * or its PostgreSQL database), which the running gateway meets on its next
 * write. A real failure of the real store, nothing in the gateway is faked;
 * other writes are untouched. Returns `clear()`, which drops the trigger.
 */
export function failStoreWrites(gw, marker) {
  if (!/^[\w -]+$/.test(marker)) throw new Error(`marker must be plain words: ${marker}`);
  if (gw.databaseUrl) {
    const psql = (sql) => {
      const r = spawnSync('psql', [gw.databaseUrl, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { encoding: 'utf8', timeout: 30000 });
      if (r.status !== 0) throw new Error(`psql failed: ${r.stderr || r.error}`);
    };
    psql(`CREATE FUNCTION compat_store_fault() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'injected store fault'; END $$;
          CREATE TRIGGER compat_store_fault BEFORE INSERT ON messages FOR EACH ROW
            WHEN (NEW.content LIKE '%${marker}%') EXECUTE FUNCTION compat_store_fault();`);
    return { clear: () => psql('DROP TRIGGER compat_store_fault ON messages; DROP FUNCTION compat_store_fault();') };
  }
  // python3 runs the Odoo double already; its sqlite3 module waits for the
  // gateway's writer to let go of the lock (timeout) instead of failing.
  const sqlite = (sql) => {
    const r = spawnSync('python3', ['-c',
      'import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], timeout=10)\nc.executescript(sys.argv[2])\nc.close()',
      path.join(gw.dataDir, 'chat.db'), sql], { encoding: 'utf8', timeout: 30000 });
    if (r.status !== 0) throw new Error(`sqlite3 failed: ${r.stderr || r.error}`);
  };
  sqlite(`CREATE TRIGGER compat_store_fault BEFORE INSERT ON messages
            WHEN NEW.content LIKE '%${marker}%'
            BEGIN SELECT RAISE(ABORT, 'injected store fault'); END;`);
  return { clear: () => sqlite('DROP TRIGGER compat_store_fault;') };
}
