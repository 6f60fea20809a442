-- The support desk in Redis (docs/cluster-desk.md). One script, one
-- operation per call: Redis runs a script alone, so each operation is one
-- atomic decision whichever node calls it.
--
-- KEYS[1]  the key prefix, e.g. "{desk}" (every key of the desk starts with
--          it; the braces keep them in one Redis Cluster slot)
-- ARGV[1]  the operation
-- ARGV[2]  the calling node's id
-- ARGV[3]  the grace period, ms
-- ARGV[4]  how long a node counts as alive after its last heartbeat, ms
-- ARGV[5…] the operation's arguments
-- Answer: a JSON document (cjson); an empty list is encoded as {}.

local P = KEYS[1]
local op = ARGV[1]
local node = ARGV[2]
local grace_ms = tonumber(ARGV[3])
local node_ttl_ms = tonumber(ARGV[4])
local FALLBACK = 'general'

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local K_AGENTS = P .. ':agents'           -- SET of agent ids
local K_QUEUE = P .. ':queue'             -- ZSET conversation -> order
local K_QUEUED = P .. ':queued'           -- HASH conversation -> {v, d, s, t}
local K_QHEAD = P .. ':qhead'             -- counter, down: requeued in front
local K_QTAIL = P .. ':qtail'             -- counter, up: queued at the back
local K_CHAT_AGENT = P .. ':chat_agent'   -- HASH conversation -> agent
local K_CHAT = P .. ':chat'               -- HASH conversation -> {v, d}
local K_OPEN = P .. ':open'               -- HASH visitor -> conversation
local K_GRACE = P .. ':grace'             -- ZSET agent -> grace deadline ms
local K_NODES = P .. ':nodes'             -- HASH node -> alive-until ms
local K_RESTORED = P .. ':restored'       -- set once the store was loaded
local function k_agent(id) return P .. ':agent:' .. id end       -- HASH settings
local function k_chats(id) return P .. ':chats:' .. id end       -- SET conversations
local function k_conns(id) return P .. ':conns:' .. id end       -- HASH node -> sockets
local function k_node_agents(n) return P .. ':node_agents:' .. n end -- SET agents

-- Byte order, as Rust compares strings (Lua's < follows the server's
-- locale): ties between agents and the order of chats come out as the
-- in-process desk's.
local function before(a, b)
  local la, lb = #a, #b
  for i = 1, math.min(la, lb) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return la < lb
end

local function serves(agent_dept, dept)
  return agent_dept == dept or agent_dept == FALLBACK
end

-- An agent's settings and live state, or nil.
local function agent(id)
  local h = redis.call('HMGET', k_agent(id), 'dept', 'max', 'avail', 'online', 'gen', 'last', 'away')
  if not h[1] then return nil end
  return {
    id = id, dept = h[1], max = tonumber(h[2]), avail = h[3] == '1',
    online = h[4] == '1', gen = tonumber(h[5]), last = tonumber(h[6]),
    away = h[7] or nil,
    active = redis.call('SCARD', k_chats(id)),
    connected = redis.call('HLEN', k_conns(id)) > 0,
  }
end

local function all_agents()
  local out = {}
  for _, id in ipairs(redis.call('SMEMBERS', K_AGENTS)) do
    local a = agent(id)
    if a then out[#out + 1] = a end
  end
  return out
end

local function has_capacity(a)
  return a.online and a.connected and a.avail and a.active < a.max
end

-- chat_core::support::choose_agent: among agents with capacity in the
-- department (then in general), the fewest open chats, then idle longest,
-- then by id.
local function pick(agents, dept, except)
  local best
  for _, a in ipairs(agents) do
    if a.dept == dept and a.id ~= except and has_capacity(a) then
      if not best or a.active < best.active
        or (a.active == best.active and (a.last < best.last
          or (a.last == best.last and before(a.id, best.id)))) then
        best = a
      end
    end
  end
  return best
end

local function choose(agents, dept, except)
  local a = pick(agents, dept, except)
  if not a and dept ~= FALLBACK then a = pick(agents, FALLBACK, except) end
  return a
end

-- Counts a chat on an agent (the in-memory record too, for later choices
-- in the same call).
local function take(a, conv)
  redis.call('SADD', k_chats(a.id), conv)
  redis.call('HSET', K_CHAT_AGENT, conv, a.id)
  redis.call('HSET', k_agent(a.id), 'last', now)
  a.active = a.active + 1
  a.last = now
end

-- Takes a chat off its agent's load; returns the agent's id or nil.
local function untake(conv)
  local from = redis.call('HGET', K_CHAT_AGENT, conv)
  if not from then return nil end
  redis.call('SREM', k_chats(from), conv)
  redis.call('HDEL', K_CHAT_AGENT, conv)
  if redis.call('EXISTS', k_agent(from)) == 1 then
    redis.call('HSET', k_agent(from), 'last', now)
  end
  return from
end

local function entry(conv)
  local raw = redis.call('HGET', K_QUEUED, conv)
  if raw then return cjson.decode(raw) end
  return nil
end

local function put_entry(conv, e)
  redis.call('HSET', K_QUEUED, conv, cjson.encode(e))
end

local function push_back(conv, e)
  redis.call('ZADD', K_QUEUE, redis.call('INCR', K_QTAIL), conv)
  put_entry(conv, e)
end

local function push_front(conv, e)
  redis.call('ZADD', K_QUEUE, redis.call('DECR', K_QHEAD), conv)
  put_entry(conv, e)
end

local function unqueue(conv)
  local e = entry(conv)
  redis.call('ZREM', K_QUEUE, conv)
  redis.call('HDEL', K_QUEUED, conv)
  return e
end

local function queue_ids()
  return redis.call('ZRANGE', K_QUEUE, 0, -1)
end

-- What the desk knows of an open chat: {v = visitor, d = department}.
local function chat_info(conv)
  local raw = redis.call('HGET', K_CHAT, conv)
  if raw then return cjson.decode(raw) end
  return nil
end

local function open(visitor, conv, dept)
  redis.call('HSET', K_OPEN, visitor, conv)
  local info = chat_info(conv) or {}
  info.v = visitor
  if dept and dept ~= '' then info.d = dept end
  redis.call('HSET', K_CHAT, conv, cjson.encode(info))
end

local function position_of(conv)
  local e = entry(conv)
  if not e then return nil end
  local n = 0
  for _, c in ipairs(queue_ids()) do
    local o = entry(c)
    if o and o.d == e.d then n = n + 1 end
    if c == conv then return n end
  end
  return nil
end

local function new_changes()
  return { assigned = {}, requeued = {}, positions = {}, waited = {} }
end

-- Positions that changed since each visitor was last told; marks them told.
local function positions(changes)
  local per = {}
  for _, conv in ipairs(queue_ids()) do
    local e = entry(conv)
    if e then
      local n = (per[e.d] or 0) + 1
      per[e.d] = n
      if e.t ~= n then
        e.t = n
        put_entry(conv, e)
        changes.positions[#changes.positions + 1] = { conv, e.v, n }
      end
    end
  end
end

-- Assigns queued chats, head first, while some agent can take them.
local function fill(changes)
  local agents = all_agents()
  for _, conv in ipairs(queue_ids()) do
    local able = false
    for _, a in ipairs(agents) do
      if has_capacity(a) then able = true break end
    end
    if not able then break end
    local e = entry(conv)
    if e then
      local a = choose(agents, e.d, nil)
      if a then
        unqueue(conv)
        take(a, conv)
        changes.assigned[#changes.assigned + 1] = { conv, a.id }
        changes.waited[#changes.waited + 1] = { e.d, now - e.s }
      end
    end
  end
  positions(changes)
  return changes
end

-- The agent has no socket anywhere: its grace period starts (once).
local function start_grace(id)
  if redis.call('HGET', k_agent(id), 'online') == '1' then
    redis.call('ZADD', K_GRACE, 'NX', now + grace_ms, id)
  end
end

-- The grace period ended and the agent did not come back: offline, and its
-- chats go back to the head of the queue, oldest first.
local function expire(a, changes)
  redis.call('HSET', k_agent(a.id), 'online', '0')
  redis.call('ZREM', K_GRACE, a.id)
  local chats = redis.call('SMEMBERS', k_chats(a.id))
  table.sort(chats, before)
  for i = #chats, 1, -1 do
    local conv = chats[i]
    untake(conv)
    local info = chat_info(conv) or {}
    push_front(conv, { v = info.v or '', d = info.d or a.dept, s = now, t = 0 })
  end
  for _, conv in ipairs(chats) do
    changes.requeued[#changes.requeued + 1] = { conv, a.id }
  end
end

-- This node's sockets of an agent: +1 / -1. Returns the count after.
local function count_socket(id, delta)
  local n = redis.call('HINCRBY', k_conns(id), node, delta)
  if n <= 0 then
    redis.call('HDEL', k_conns(id), node)
    redis.call('SREM', k_node_agents(node), id)
  else
    redis.call('SADD', k_node_agents(node), id)
  end
  return n
end

local function heartbeat()
  redis.call('HSET', K_NODES, node, now + node_ttl_ms)
end

-- A node's sockets are gone (it left, or stopped beating): agents left with
-- no socket start their grace period.
local function drop_node(n)
  for _, id in ipairs(redis.call('SMEMBERS', k_node_agents(n))) do
    redis.call('HDEL', k_conns(id), n)
    if redis.call('HLEN', k_conns(id)) == 0 then start_grace(id) end
  end
  redis.call('DEL', k_node_agents(n))
  redis.call('HDEL', K_NODES, n)
end

local function agent_json(a)
  local chats = redis.call('SMEMBERS', k_chats(a.id))
  table.sort(chats, before)
  return {
    id = a.id, department = a.dept, max_chats = a.max, available = a.avail,
    away_message = a.away, online = a.online, connected = a.connected,
    chats = chats, last_activity = a.last,
  }
end

local function write_settings(id, dept, max, avail, has_away, away)
  redis.call('HSET', k_agent(id), 'dept', dept, 'max', max, 'avail', avail)
  if has_away == '1' then
    redis.call('HSET', k_agent(id), 'away', away)
  end
end

local function register(id, dept, max, avail, has_away, away)
  if redis.call('EXISTS', k_agent(id)) == 1 then return false end
  write_settings(id, dept, max, avail, has_away, away)
  redis.call('HSET', k_agent(id), 'online', '0', 'gen', 0, 'last', 0)
  redis.call('SADD', K_AGENTS, id)
  return true
end

local A = ARGV
local ops = {}

-- register(id, dept, max, avail, has_away, away)
ops.register = function()
  register(A[5], A[6], A[7], A[8], A[9], A[10])
  return {}
end

-- configure(id, dept, max, avail, has_away, away): settings replaced, live state kept
ops.configure = function()
  if not register(A[5], A[6], A[7], A[8], A[9], A[10]) then
    write_settings(A[5], A[6], A[7], A[8], A[9], A[10])
    if A[9] ~= '1' then redis.call('HDEL', k_agent(A[5]), 'away') end
  end
  return {}
end

-- admin_joins(id, sockets)
ops.admin_joins = function()
  local id, sockets = A[5], tonumber(A[6])
  if redis.call('EXISTS', k_agent(id)) == 1 then return {} end
  write_settings(id, FALLBACK, 5, '0', '0', '')
  redis.call('HSET', k_agent(id), 'online', sockets > 0 and '1' or '0', 'gen', 1, 'last', now)
  redis.call('SADD', K_AGENTS, id)
  if sockets > 0 then
    heartbeat()
    count_socket(id, sockets)
  end
  return {}
end

ops.refill = function()
  return fill(new_changes())
end

ops.begin_restore = function()
  return { first = redis.call('SET', K_RESTORED, now, 'NX') ~= false }
end

-- restore_active(conv, visitor, dept, agent): skipped when the desk has it
ops.restore_active = function()
  local conv, visitor, dept, id = A[5], A[6], A[7], A[8]
  if redis.call('HEXISTS', K_CHAT_AGENT, conv) == 1 or redis.call('ZSCORE', K_QUEUE, conv) then
    return {}
  end
  local a = agent(id)
  if a then
    take(a, conv)
    redis.call('HSET', k_agent(id), 'online', '1')
  end
  open(visitor, conv, dept)
  return {}
end

-- restore_queued(conv, visitor, dept, since): skipped when the desk has it
ops.restore_queued = function()
  local conv, visitor, dept, since = A[5], A[6], A[7], tonumber(A[8])
  if redis.call('HEXISTS', K_CHAT_AGENT, conv) == 1 or redis.call('ZSCORE', K_QUEUE, conv) then
    return {}
  end
  push_back(conv, { v = visitor, d = dept, s = since, t = 0 })
  open(visitor, conv, dept)
  return {}
end

-- Agents online with no socket anywhere: their grace period starts now.
ops.awaiting = function()
  local out = {}
  for _, a in ipairs(all_agents()) do
    if a.online and not a.connected then
      start_grace(a.id)
      out[#out + 1] = { a.id, a.gen }
    end
  end
  return { agents = out }
end

ops.open_of = function()
  return { conversation = redis.call('HGET', K_OPEN, A[5]) or nil }
end

-- claim(visitor, conv, dept)
ops.claim = function()
  local visitor, conv, dept = A[5], A[6], A[7]
  local existing = redis.call('HGET', K_OPEN, visitor)
  if existing and existing ~= conv then return { open = existing } end
  open(visitor, conv, dept)
  return {}
end

-- release_claim(visitor, conv)
ops.release_claim = function()
  local visitor, conv = A[5], A[6]
  local placed = redis.call('HEXISTS', K_CHAT_AGENT, conv) == 1 or redis.call('ZSCORE', K_QUEUE, conv)
  if not placed and redis.call('HGET', K_OPEN, visitor) == conv then
    redis.call('HDEL', K_OPEN, visitor)
    redis.call('HDEL', K_CHAT, conv)
  end
  return {}
end

-- request(conv, visitor, dept)
ops.request = function()
  local conv, visitor, dept = A[5], A[6], A[7]
  local changes = new_changes()
  open(visitor, conv, dept)
  -- Asked twice (a retry): the same answer, nothing counted twice.
  local has = redis.call('HGET', K_CHAT_AGENT, conv)
  if has then return { assigned = has, changes = changes } end
  if not redis.call('ZSCORE', K_QUEUE, conv) then
    local agents = all_agents()
    local a = choose(agents, dept, nil)
    if a then
      take(a, conv)
      changes.waited[1] = { dept, 0 }
      return { assigned = a.id, changes = changes }
    end
    push_back(conv, { v = visitor, d = dept, s = now, t = 0 })
  end
  local online = false
  for _, a in ipairs(all_agents()) do
    if a.online and serves(a.dept, dept) then online = true break end
  end
  positions(changes)
  return { queued = position_of(conv) or 1, agents_online = online, changes = changes }
end

-- connected(id): one more socket of the agent on this node
ops.connected = function()
  local id = A[5]
  if redis.call('EXISTS', k_agent(id)) == 0 then return new_changes() end
  local was = redis.call('HLEN', k_conns(id)) > 0
  heartbeat()
  count_socket(id, 1)
  redis.call('HINCRBY', k_agent(id), 'gen', 1)
  redis.call('HSET', k_agent(id), 'online', '1')
  redis.call('ZREM', K_GRACE, id)
  if was then return new_changes() end
  return fill(new_changes())
end

-- disconnected(id): one socket fewer on this node; the generation when it
-- was the agent's last socket anywhere
ops.disconnected = function()
  local id = A[5]
  if redis.call('EXISTS', k_agent(id)) == 0 then return {} end
  local n = count_socket(id, -1)
  if n ~= 0 or redis.call('HLEN', k_conns(id)) > 0 then return {} end
  start_grace(id)
  return { generation = tonumber(redis.call('HGET', k_agent(id), 'gen')) }
end

-- grace_expired(id, generation)
ops.grace_expired = function()
  local a = agent(A[5])
  local changes = new_changes()
  if not a or a.gen ~= tonumber(A[6]) or a.connected or not a.online then
    return changes
  end
  expire(a, changes)
  return fill(changes)
end

-- ended(conv)
ops.ended = function()
  local conv = A[5]
  local info = chat_info(conv)
  if info and info.v and redis.call('HGET', K_OPEN, info.v) == conv then
    redis.call('HDEL', K_OPEN, info.v)
  end
  redis.call('HDEL', K_CHAT, conv)
  unqueue(conv)
  untake(conv)
  return fill(new_changes())
end

-- reassign(conv, visitor, to)
ops.reassign = function()
  local conv, visitor, to = A[5], A[6], A[7]
  local from = redis.call('HGET', K_CHAT_AGENT, conv)
  if from == to then return { none = true } end
  local changes = new_changes()
  local waited = {}
  local e = unqueue(conv)
  if e then waited[1] = { e.d, now - e.s } end
  untake(conv)
  local a = agent(to)
  if a then take(a, conv) end
  open(visitor, conv, e and e.d or nil)
  fill(changes)
  for _, w in ipairs(changes.waited) do waited[#waited + 1] = w end
  changes.waited = waited
  return { from = from or nil, changes = changes }
end

-- set_status(id, avail, has_away, away, has_max, max)
ops.set_status = function()
  local id = A[5]
  if redis.call('EXISTS', k_agent(id)) == 0 then return new_changes() end
  redis.call('HSET', k_agent(id), 'avail', A[6])
  if A[7] == '1' then redis.call('HSET', k_agent(id), 'away', A[8]) end
  if A[9] == '1' then redis.call('HSET', k_agent(id), 'max', math.max(1, tonumber(A[10]))) end
  return fill(new_changes())
end

-- take(conv, agent)
ops.take = function()
  local conv, id = A[5], A[6]
  local e = entry(conv)
  if not e then return { err = 'NotQueued' } end
  local a = agent(id)
  if not a then return { err = 'NoSuchAgent' } end
  if not serves(a.dept, e.d) then return { err = 'NotServed' } end
  if a.active >= a.max then return { err = 'Full' } end
  unqueue(conv)
  take(a, conv)
  redis.call('HSET', K_OPEN, e.v, conv)
  local changes = new_changes()
  changes.waited[1] = { e.d, now - e.s }
  positions(changes)
  return { visitor = e.v, changes = changes }
end

-- transfer(conv, 'agent' | 'department', target, by or '')
ops.transfer = function()
  local conv, kind, target, by = A[5], A[6], A[7], A[8]
  local from = redis.call('HGET', K_CHAT_AGENT, conv)
  if not from then return { err = 'NotActive' } end
  if by ~= '' and by ~= from then return { err = 'NotYours' } end
  local to
  if kind == 'agent' then
    to = agent(target)
    if not to then return { err = 'NoSuchAgent' } end
    if target == from then return { err = 'SameAgent' } end
    if not (to.online and to.avail and to.active < to.max) then return { err = 'TargetBusy' } end
  else
    to = choose(all_agents(), target, from)
    if not to then return { err = 'DepartmentBusy' } end
  end
  untake(conv)
  take(to, conv)
  return { from = from, to = to.id, changes = fill(new_changes()) }
end

-- maintain(left, id1, count1, id2, count2, …): this node's heartbeat and its
-- own socket counts (it is their authority: what a sweep took while this node
-- was slow is put back, what it no longer holds is dropped), then the sweep
-- of dead nodes and overdue grace periods. `lost`: the desk's state is gone
-- (Redis restarted empty), the gateway rebuilds it from the store.
ops.maintain = function()
  local changes = new_changes()
  local lost = redis.call('EXISTS', K_RESTORED) == 0
  if A[5] ~= '1' then
    heartbeat()
    local mine = {}
    local i = 6
    while A[i] do
      local id, count = A[i], tonumber(A[i + 1])
      mine[id] = true
      if count > 0 and redis.call('EXISTS', k_agent(id)) == 1
        and tonumber(redis.call('HGET', k_conns(id), node) or 0) ~= count then
        local was = redis.call('HLEN', k_conns(id)) > 0
        redis.call('HSET', k_conns(id), node, count)
        redis.call('SADD', k_node_agents(node), id)
        if not was then
          -- Back from the desk's point of view: as on a connect.
          redis.call('HINCRBY', k_agent(id), 'gen', 1)
          redis.call('HSET', k_agent(id), 'online', '1')
          redis.call('ZREM', K_GRACE, id)
        end
      end
      i = i + 2
    end
    for _, id in ipairs(redis.call('SMEMBERS', k_node_agents(node))) do
      if not mine[id] then
        redis.call('HDEL', k_conns(id), node)
        redis.call('SREM', k_node_agents(node), id)
        if redis.call('HLEN', k_conns(id)) == 0 then start_grace(id) end
      end
    end
  end
  local nodes = redis.call('HGETALL', K_NODES)
  for j = 1, #nodes, 2 do
    if nodes[j] ~= node and tonumber(nodes[j + 1]) < now then
      drop_node(nodes[j])
    end
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_GRACE, '-inf', now)) do
    local a = agent(id)
    if a and a.online and not a.connected then
      expire(a, changes)
    else
      redis.call('ZREM', K_GRACE, id)
    end
  end
  return { changes = fill(changes), lost = lost }
end

-- node_leaving(node): its sockets handed back at once
ops.node_leaving = function()
  drop_node(A[5])
  return {}
end

ops.snapshot = function()
  local agents = {}
  for _, a in ipairs(all_agents()) do agents[#agents + 1] = agent_json(a) end
  table.sort(agents, function(x, y) return before(x.id, y.id) end)
  local queue = {}
  for _, conv in ipairs(queue_ids()) do
    local e = entry(conv)
    if e then
      queue[#queue + 1] = { conversation_id = conv, visitor_id = e.v, department = e.d, since = e.s }
    end
  end
  return { agents = agents, queue = queue }
end

local f = ops[op]
if not f then return redis.error_reply('unknown desk operation ' .. tostring(op)) end
return cjson.encode(f())
