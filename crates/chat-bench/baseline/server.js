'use strict';
// Baseline for the benchmarks: the seed's Node.js chat server (express +
// socket.io 4.8) reduced to the wire contract's core events, with an
// in-memory store where the seed talked to Odoo. It exists so that every
// benchmark run can measure the Rust gateway and the server it replaces with
// the same load generator on the same machine.
//
// Env: PORT (0 = any free port), HOST (default 127.0.0.1), JWT_SECRET,
// DIRECTORY_FILE (protocol §10 JSON). Prints one line on stdout:
//   baseline listening on http://127.0.0.1:PORT

const fs = require('fs');
const http = require('http');
const crypto = require('crypto');
const express = require('express');
const jwt = require('jsonwebtoken');
const { Server } = require('socket.io');

const PORT = Number(process.env.PORT || 3001);
const HOST = process.env.HOST || '127.0.0.1';
const JWT_SECRET = process.env.JWT_SECRET || 'dev-secret';
const MAX_CONTENT = 4000;

// ---------------------------------------------------------------- store
const users = new Map(); // id -> { id, name, role }
const agents = new Map(); // userId -> { department, max, available, open }
const conversations = new Map(); // id -> { id, type, name, participants:Set, messages:[], status }
const userConvs = new Map(); // userId -> Set(convId)
const connections = new Map(); // userId -> count of open sockets
const queue = []; // support conversation ids waiting for an agent

if (process.env.DIRECTORY_FILE) {
  const dir = JSON.parse(fs.readFileSync(process.env.DIRECTORY_FILE, 'utf8'));
  for (const u of dir.users || []) users.set(String(u.id), { id: String(u.id), name: u.name, role: u.role });
  for (const a of dir.agents || []) {
    agents.set(String(a.userId), {
      department: a.department || 'general',
      max: a.maxConcurrentChats || 5,
      available: a.available !== false,
      open: 0,
      idleSince: Date.now(),
    });
  }
}

let lastMs = 0;
let seq = 0;
function newId() {
  // time-ordered id, strictly increasing within this process
  const now = Date.now();
  if (now === lastMs) seq += 1; else { lastMs = now; seq = 0; }
  return now.toString(16).padStart(12, '0') + '-' + seq.toString(16).padStart(6, '0') + '-' + crypto.randomBytes(4).toString('hex');
}

function convsOf(userId) {
  let s = userConvs.get(userId);
  if (!s) { s = new Set(); userConvs.set(userId, s); }
  return s;
}

function publicConversation(c) {
  return {
    id: c.id,
    type: c.type,
    name: c.name,
    participants: [...c.participants].map((id) => {
      const u = users.get(id) || { id, name: id, role: 'public' };
      return { id, name: u.name, role: u.role, online: (connections.get(id) || 0) > 0 };
    }),
    unreadCount: 0,
    lastMessage: c.messages.length ? c.messages[c.messages.length - 1] : null,
    status: c.status,
  };
}

function createConversation(type, participantIds, name) {
  const c = { id: newId(), type, name: name || null, participants: new Set(participantIds), messages: [], status: type === 'support' ? 'queued' : undefined };
  conversations.set(c.id, c);
  for (const p of c.participants) {
    convsOf(p).add(c.id);
    io.in('user:' + p).socketsJoin(c.id);
  }
  return c;
}

// ---------------------------------------------------------------- server
const app = express();
app.get('/health', (_req, res) => res.json({ status: 'ok', connections: io.engine.clientsCount }));
const server = http.createServer(app);
const io = new Server(server, { cors: { origin: '*' }, maxHttpBufferSize: 1e6 });

io.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (!token) {
    const id = 'guest_' + Date.now() + '_' + crypto.randomBytes(4).toString('hex');
    socket.data.user = { id, name: 'Guest', role: 'public' };
    users.set(id, socket.data.user);
    return next();
  }
  try {
    const claims = jwt.verify(token, JWT_SECRET, { algorithms: ['HS256'] });
    const user = { id: String(claims.sub), name: claims.name || String(claims.sub), role: claims.role || 'student' };
    users.set(user.id, user);
    socket.data.user = user;
    next();
  } catch (_e) {
    next(new Error('Authentication failed'));
  }
});

function fail(socket, ack, event, code, message) {
  const error = { code, message };
  if (typeof ack === 'function') ack({ ok: false, error });
  else socket.emit('chat:error', { event, code, message });
}

function roomIdOf(payload) {
  if (typeof payload === 'string') return payload;
  return payload && typeof payload.roomId === 'string' ? payload.roomId : null;
}

function tryAssign(convId) {
  const c = conversations.get(convId);
  let best = null;
  for (const [userId, a] of agents) {
    if (!a.available || (connections.get(userId) || 0) === 0 || a.open >= a.max) continue;
    if (!best || a.open < best[1].open || (a.open === best[1].open && a.idleSince < best[1].idleSince)) best = [userId, a];
  }
  if (!best) return null;
  const [agentId, a] = best;
  a.open += 1;
  c.agentId = agentId;
  c.status = 'assigned';
  c.participants.add(agentId);
  convsOf(agentId).add(c.id);
  io.in('user:' + agentId).socketsJoin(c.id);
  const agent = { id: agentId, name: (users.get(agentId) || {}).name || agentId };
  io.to(c.id).emit('support:assigned', { roomId: c.id, agent });
  io.to('user:' + agentId).emit('conversation:new', publicConversation(c));
  return agent;
}

function drainQueue() {
  let guard = queue.length;
  while (queue.length && guard-- > 0) {
    if (!tryAssign(queue[0])) break;
    queue.shift();
    queue.forEach((id, i) => io.to(id).emit('support:queued', { roomId: id, position: i + 1 }));
  }
}

io.on('connection', (socket) => {
  const user = socket.data.user;
  socket.join('user:' + user.id);
  for (const id of convsOf(user.id)) socket.join(id);
  const n = (connections.get(user.id) || 0) + 1;
  connections.set(user.id, n);
  socket.emit('session', { userId: user.id, name: user.name, role: user.role });
  if (n === 1 && user.role !== 'public') {
    for (const id of convsOf(user.id)) socket.to(id).emit('user:online', user.id);
    drainQueue();
  }

  const onJoin = (payload, ack) => {
    const roomId = roomIdOf(payload);
    const c = roomId && conversations.get(roomId);
    if (!c) return fail(socket, ack, 'join', 'not_found', 'No such room');
    if (!c.participants.has(user.id) && user.role !== 'admin') return fail(socket, ack, 'join', 'forbidden', 'Not a participant');
    socket.join(roomId);
    socket.to(roomId).emit('user:joined', { userId: user.id, roomId });
    if (typeof ack === 'function') ack({ ok: true, room: publicConversation(c) });
  };
  socket.on('join', onJoin);
  socket.on('join:room', onJoin);

  const onLeave = (payload) => {
    const roomId = roomIdOf(payload);
    if (!roomId) return;
    socket.leave(roomId);
    socket.to(roomId).emit('user:left', { userId: user.id, roomId });
  };
  socket.on('leave', onLeave);
  socket.on('leave:room', onLeave);

  socket.on('message', (payload, ack) => {
    if (!payload || typeof payload !== 'object') return fail(socket, ack, 'message', 'invalid', 'Invalid payload');
    const content = typeof payload.content === 'string' ? payload.content.trim() : '';
    if (!content) return fail(socket, ack, 'message', 'invalid', 'Empty message');
    if (content.length > MAX_CONTENT) return fail(socket, ack, 'message', 'too_large', 'Message too long');
    const c = conversations.get(payload.roomId);
    if (!c) return fail(socket, ack, 'message', 'not_found', 'No such room');
    if (!c.participants.has(user.id) && user.role !== 'admin') return fail(socket, ack, 'message', 'forbidden', 'Not a participant');
    if (payload.clientId) {
      const dup = c.messages.find((m) => m.clientId === payload.clientId && m.authorId === user.id);
      if (dup) { if (typeof ack === 'function') ack({ ok: true, message: dup }); return; }
    }
    const message = {
      id: newId(), roomId: c.id, authorId: user.id, authorName: user.name, content, type: 'text',
      attachments: [], parentId: payload.parentId || null, clientId: payload.clientId || null,
      createdAt: new Date().toISOString(), editedAt: null,
    };
    c.messages.push(message);
    io.to(c.id).emit('message', message);
    if (typeof ack === 'function') ack({ ok: true, message });
  });

  const onTyping = (roomId, isTyping) => {
    if (typeof roomId !== 'string' || !conversations.has(roomId)) return;
    socket.to(roomId).emit('typing', { userId: user.id, roomId, isTyping });
  };
  socket.on('typing', (p) => onTyping(roomIdOf(p), !(p && p.isTyping === false)));
  socket.on('typing:start', (p) => onTyping(roomIdOf(p), true));
  socket.on('typing:stop', (p) => onTyping(roomIdOf(p), false));

  const onRead = (payload) => {
    const roomId = roomIdOf(payload);
    if (!roomId || !conversations.has(roomId) || !payload.messageId) return;
    io.to(roomId).emit('message:read', { roomId, messageId: payload.messageId, userId: user.id, readAt: new Date().toISOString() });
  };
  socket.on('read', onRead);
  socket.on('message:read', onRead);

  socket.on('conversation:create', (payload, ack) => {
    if (!payload || !Array.isArray(payload.participantIds)) return fail(socket, ack, 'conversation:create', 'invalid', 'participantIds required');
    const type = payload.type || 'group';
    if (!['direct', 'group', 'channel'].includes(type)) return fail(socket, ack, 'conversation:create', 'invalid', 'Bad type');
    if (user.role === 'public') return fail(socket, ack, 'conversation:create', 'forbidden', 'Not allowed');
    const ids = new Set(payload.participantIds.map(String));
    ids.add(user.id);
    const c = createConversation(type, ids, payload.name);
    const pub = publicConversation(c);
    for (const p of c.participants) io.to('user:' + p).emit('conversation:new', pub);
    if (typeof ack === 'function') ack({ ok: true, conversation: pub });
  });

  socket.on('conversations:list', (_payload, ack) => {
    if (typeof ack !== 'function') return;
    ack({ ok: true, conversations: [...convsOf(user.id)].map((id) => publicConversation(conversations.get(id))) });
  });

  socket.on('messages:history', (payload, ack) => {
    if (typeof ack !== 'function') return;
    const c = payload && conversations.get(payload.roomId);
    if (!c) return fail(socket, ack, 'messages:history', 'not_found', 'No such room');
    if (!c.participants.has(user.id) && user.role !== 'admin') return fail(socket, ack, 'messages:history', 'forbidden', 'Not a participant');
    const limit = Math.min(Math.max(Number(payload.limit) || 50, 1), 100);
    const all = c.messages;
    let page; let hasMore;
    if (payload.after) {
      const i = all.findIndex((m) => m.id === payload.after);
      const rest = all.slice(i + 1);
      page = rest.slice(0, limit); hasMore = rest.length > limit;
    } else {
      const end = payload.before ? all.findIndex((m) => m.id === payload.before) : all.length;
      const upto = all.slice(0, end < 0 ? all.length : end);
      page = upto.slice(-limit).reverse(); hasMore = upto.length > limit;
    }
    ack({ ok: true, messages: page, hasMore });
  });

  socket.on('support:start', (payload, ack) => {
    if (!payload || typeof payload.name !== 'string' || typeof payload.email !== 'string') return fail(socket, ack, 'support:start', 'invalid', 'name and email required');
    const c = createConversation('support', [user.id], 'Support: ' + payload.name);
    c.queryType = payload.queryType || 'other';
    if (payload.message) {
      const m = { id: newId(), roomId: c.id, authorId: user.id, authorName: payload.name, content: String(payload.message), type: 'text', attachments: [], parentId: null, clientId: null, createdAt: new Date().toISOString(), editedAt: null };
      c.messages.push(m);
    }
    const agent = tryAssign(c.id);
    if (agent) {
      if (typeof ack === 'function') ack({ ok: true, conversation: publicConversation(c), status: 'assigned', agent });
    } else {
      queue.push(c.id);
      socket.emit('support:queued', { roomId: c.id, position: queue.length });
      if (typeof ack === 'function') ack({ ok: true, conversation: publicConversation(c), status: 'queued', position: queue.length });
    }
  });

  socket.on('support:end', (payload, ack) => {
    const roomId = roomIdOf(payload);
    const c = roomId && conversations.get(roomId);
    if (!c || c.type !== 'support') return fail(socket, ack, 'support:end', 'not_found', 'No such support chat');
    if (!c.participants.has(user.id) && user.role !== 'admin') return fail(socket, ack, 'support:end', 'forbidden', 'Not a participant');
    if (c.status !== 'ended') {
      const qi = queue.indexOf(c.id);
      if (qi >= 0) queue.splice(qi, 1);
      if (c.agentId && agents.has(c.agentId)) {
        const a = agents.get(c.agentId);
        a.open = Math.max(0, a.open - 1);
        a.idleSince = Date.now();
      }
      c.status = 'ended';
      io.to(c.id).emit('support:ended', { roomId: c.id });
      drainQueue();
    }
    if (typeof ack === 'function') ack({ ok: true });
  });

  socket.on('agent:status', (payload, ack) => {
    const a = agents.get(user.id);
    if (!a) return fail(socket, ack, 'agent:status', 'forbidden', 'Not an agent');
    a.available = !!(payload && payload.available);
    if (a.available) drainQueue();
    if (typeof ack === 'function') ack({ ok: true });
  });

  socket.on('disconnect', () => {
    const left = (connections.get(user.id) || 1) - 1;
    connections.set(user.id, left);
    if (left === 0 && user.role !== 'public') {
      for (const id of convsOf(user.id)) io.to(id).emit('user:offline', user.id);
    }
    if (user.role === 'public') connections.delete(user.id);
  });
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  process.stdout.write(`baseline listening on http://127.0.0.1:${port}\n`);
});

process.on('SIGTERM', () => { io.close(); server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 2000).unref(); });
