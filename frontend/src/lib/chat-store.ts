// The chat state and its reducer: pure functions, no React, no socket, so the
// rules (dedupe by id and clientId, ordering, unread counts, read ticks,
// typing expiry) are unit-tested on their own.

import type {
  ChatMessage,
  ConnectionStatus,
  Conversation,
  ConversationType,
  Session,
  SupportStatus,
  UiMessage,
} from './chat-types';

export const TYPING_TTL_MS = 6000;

export interface ChatState {
  session: Session | null;
  connection: ConnectionStatus;
  conversations: Record<string, Conversation>;
  /** Per room, ascending: server messages by id, then pending ones by creation time. */
  messages: Record<string, UiMessage[]>;
  hasMore: Record<string, boolean>;
  /** roomId -> userId -> expiry (ms since epoch). */
  typing: Record<string, Record<string, number>>;
  online: Record<string, boolean>;
  /** roomId -> userId -> newest message id that user has read. */
  reads: Record<string, Record<string, string>>;
  support: Record<string, SupportStatus>;
  agentsOnline: number | null;
  /** Per department (sales, support, billing, general): agents who could answer now; null until the gateway says. */
  agentsByDepartment: Record<string, number> | null;
  /** Newest server message id seen, the `since` of the next `sync`. */
  lastSeenId: string | null;
  activeRoomId: string | null;
}

export const initialChatState: ChatState = {
  session: null,
  connection: 'idle',
  conversations: {},
  messages: {},
  hasMore: {},
  typing: {},
  online: {},
  reads: {},
  support: {},
  agentsOnline: null,
  agentsByDepartment: null,
  lastSeenId: null,
  activeRoomId: null,
};

export type ChatAction =
  | { type: 'session'; session: Session }
  | { type: 'connection'; status: ConnectionStatus }
  | { type: 'conversations/set'; conversations: Conversation[] }
  | { type: 'conversation/upsert'; conversation: Partial<Conversation> & { id: string } }
  | { type: 'message/received'; message: ChatMessage }
  | { type: 'message/pending'; message: UiMessage }
  | { type: 'message/failed'; clientId: string; error: string }
  | { type: 'message/retry'; clientId: string }
  | { type: 'message/updated'; message: ChatMessage }
  | { type: 'message/deleted'; roomId: string; messageId: string }
  | { type: 'message/reaction'; roomId: string; messageId: string; reactions: Record<string, string[]> }
  | { type: 'history/loaded'; roomId: string; messages: ChatMessage[]; hasMore: boolean; older: boolean }
  | { type: 'sync/applied'; messages: ChatMessage[] }
  | { type: 'typing'; roomId: string; userId: string; isTyping: boolean; now: number }
  | { type: 'typing/expire'; now: number }
  | { type: 'presence'; userId: string; online: boolean }
  | { type: 'read'; roomId: string; userId: string; messageId: string }
  | { type: 'room/open'; roomId: string | null }
  | { type: 'room/markRead'; roomId: string }
  | { type: 'support/queued'; roomId: string; position: number | null }
  | { type: 'support/assigned'; roomId: string; agent: { id: string; name: string } | null }
  | { type: 'support/ended'; roomId: string }
  | { type: 'agents/availability'; online: number; departments?: Record<string, number> | null }
  | { type: 'reset' };

/** Compare two server message ids (UUIDv7: lexicographic order is time order). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function maxId(a: string | null, b: string | null): string | null {
  if (!a) return b;
  if (!b) return a;
  return compareIds(a, b) >= 0 ? a : b;
}

function compareMessages(a: UiMessage, b: UiMessage): number {
  const ap = a.status === 'pending' || a.status === 'failed';
  const bp = b.status === 'pending' || b.status === 'failed';
  if (ap !== bp) return ap ? 1 : -1;
  if (ap && bp) return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0;
  return compareIds(a.id, b.id);
}

export function toUi(message: ChatMessage): UiMessage {
  return {
    ...message,
    attachments: message.attachments ?? [],
    parentId: message.parentId ?? null,
    editedAt: message.editedAt ?? null,
    status: 'sent',
  };
}

/**
 * Insert or replace a server message in a room's list. A message with the same
 * id replaces the old one; a message whose clientId matches a pending one
 * replaces the pending one. Returns the new list and whether it was new.
 */
export function upsertMessage(list: UiMessage[], incoming: ChatMessage): { list: UiMessage[]; isNew: boolean } {
  const ui = toUi(incoming);
  const byId = list.findIndex((m) => m.status === 'sent' && m.id === ui.id);
  if (byId >= 0) {
    const next = list.slice();
    next[byId] = { ...list[byId], ...ui, reactions: ui.reactions ?? list[byId].reactions };
    return { list: next, isNew: false };
  }
  let next = list;
  let wasPending = false;
  if (ui.clientId) {
    const byClient = list.findIndex((m) => m.clientId === ui.clientId && m.status !== 'sent');
    if (byClient >= 0) {
      next = list.filter((_, i) => i !== byClient);
      wasPending = true;
    }
  }
  next = [...next, ui].sort(compareMessages);
  return { list: next, isNew: !wasPending };
}

function setRoomMessages(state: ChatState, roomId: string, list: UiMessage[]): ChatState {
  return { ...state, messages: { ...state.messages, [roomId]: list } };
}

function newerLastMessage(current: ChatMessage | null | undefined, incoming: ChatMessage): ChatMessage {
  if (!current) return incoming;
  return compareIds(incoming.id, current.id) >= 0 ? incoming : current;
}

function applyReceived(state: ChatState, message: ChatMessage): ChatState {
  if (message.deleted || message.deletedAt) {
    return applyDeleted(state, message.roomId, message.id);
  }
  const list = state.messages[message.roomId] ?? [];
  const { list: nextList, isNew } = upsertMessage(list, message);
  let next = setRoomMessages(state, message.roomId, nextList);
  next.lastSeenId = maxId(next.lastSeenId, message.id);
  const conv = next.conversations[message.roomId];
  const mine = !!state.session && message.authorId === state.session.userId;
  // A message already seen (by id or as our own pending one) never counts twice.
  const alreadyKnown = list.some((m) => m.status === 'sent' && m.id === message.id);
  if (conv) {
    const countsUnread = isNew && !alreadyKnown && !mine && state.activeRoomId !== message.roomId && message.type !== 'system';
    next = {
      ...next,
      conversations: {
        ...next.conversations,
        [conv.id]: {
          ...conv,
          lastMessage: newerLastMessage(conv.lastMessage, message),
          unreadCount: conv.unreadCount + (countsUnread ? 1 : 0),
        },
      },
    };
  }
  // The author has obviously read its own message. A system line (the away
  // notice, "X joined") is written by nobody: it reads nothing, so it never
  // turns the visitor's own message "Read".
  if (message.type !== 'system') next = applyRead(next, message.roomId, message.authorId, message.id);
  // A new message from someone ends their typing.
  const roomTyping = next.typing[message.roomId];
  if (roomTyping && roomTyping[message.authorId]) {
    const rest = { ...roomTyping };
    delete rest[message.authorId];
    next = { ...next, typing: { ...next.typing, [message.roomId]: rest } };
  }
  return next;
}

function applyDeleted(state: ChatState, roomId: string, messageId: string): ChatState {
  const list = state.messages[roomId];
  let next = state;
  if (list) next = setRoomMessages(state, roomId, list.filter((m) => !(m.status === 'sent' && m.id === messageId)));
  const conv = next.conversations[roomId];
  if (conv && conv.lastMessage && conv.lastMessage.id === messageId) {
    const remaining = (next.messages[roomId] ?? []).filter((m) => m.status === 'sent');
    const last = remaining.length ? remaining[remaining.length - 1] : null;
    next = { ...next, conversations: { ...next.conversations, [roomId]: { ...conv, lastMessage: last } } };
  }
  return next;
}

function applyRead(state: ChatState, roomId: string, userId: string, messageId: string): ChatState {
  const room = state.reads[roomId] ?? {};
  const current = room[userId] ?? null;
  const best = maxId(current, messageId);
  if (best === current) return state;
  return { ...state, reads: { ...state.reads, [roomId]: { ...room, [userId]: best as string } } };
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'reset':
      return { ...initialChatState, connection: state.connection };
    case 'session':
      return { ...state, session: action.session };
    case 'connection':
      return { ...state, connection: action.status };
    case 'conversations/set': {
      const conversations: Record<string, Conversation> = {};
      const online = { ...state.online };
      for (const c of action.conversations) {
        const active = state.activeRoomId === c.id;
        conversations[c.id] = { ...c, unreadCount: active ? 0 : c.unreadCount ?? 0, lastMessage: c.lastMessage ?? null };
        for (const p of c.participants ?? []) if (typeof p.online === 'boolean') online[p.id] = p.online;
      }
      return { ...state, conversations, online };
    }
    case 'conversation/upsert': {
      const prev = state.conversations[action.conversation.id];
      const defaults: Conversation = { id: action.conversation.id, type: 'direct', name: null, participants: [], unreadCount: 0, lastMessage: null };
      const merged: Conversation = { ...defaults, ...prev, ...action.conversation };
      merged.participants = merged.participants ?? [];
      merged.unreadCount = merged.unreadCount ?? 0;
      if (state.activeRoomId === merged.id) merged.unreadCount = 0;
      const online = { ...state.online };
      for (const p of merged.participants ?? []) if (typeof p.online === 'boolean') online[p.id] = p.online;
      return { ...state, online, conversations: { ...state.conversations, [merged.id]: merged } };
    }
    case 'message/received':
      return applyReceived(state, action.message);
    case 'message/pending': {
      const list = state.messages[action.message.roomId] ?? [];
      if (action.message.clientId && list.some((m) => m.clientId === action.message.clientId)) return state;
      return setRoomMessages(state, action.message.roomId, [...list, action.message].sort(compareMessages));
    }
    case 'message/failed':
    case 'message/retry': {
      const messages: Record<string, UiMessage[]> = {};
      let changed = false;
      for (const [roomId, list] of Object.entries(state.messages)) {
        messages[roomId] = list.map((m) => {
          if (m.clientId !== action.clientId || m.status === 'sent') return m;
          changed = true;
          return action.type === 'message/failed'
            ? { ...m, status: 'failed' as const, error: action.error }
            : { ...m, status: 'pending' as const, error: undefined };
        });
      }
      return changed ? { ...state, messages } : state;
    }
    case 'message/updated': {
      const list = state.messages[action.message.roomId];
      if (!list) return state;
      if (!list.some((m) => m.status === 'sent' && m.id === action.message.id)) return state;
      return setRoomMessages(state, action.message.roomId, upsertMessage(list, action.message).list);
    }
    case 'message/deleted':
      return applyDeleted(state, action.roomId, action.messageId);
    case 'message/reaction': {
      const list = state.messages[action.roomId];
      if (!list) return state;
      return setRoomMessages(
        state,
        action.roomId,
        list.map((m) => (m.status === 'sent' && m.id === action.messageId ? { ...m, reactions: action.reactions } : m)),
      );
    }
    case 'history/loaded': {
      let list = state.messages[action.roomId] ?? [];
      for (const m of action.messages) {
        if (m.deleted || m.deletedAt) continue;
        list = upsertMessage(list, m).list;
      }
      let lastSeenId = state.lastSeenId;
      for (const m of action.messages) lastSeenId = maxId(lastSeenId, m.id);
      const hasMore = action.older || state.hasMore[action.roomId] === undefined
        ? { ...state.hasMore, [action.roomId]: action.hasMore }
        : state.hasMore;
      let next: ChatState = { ...state, lastSeenId, hasMore, messages: { ...state.messages, [action.roomId]: list } };
      for (const m of action.messages) if (m.type !== 'system') next = applyRead(next, m.roomId, m.authorId, m.id);
      return next;
    }
    case 'sync/applied': {
      let next = state;
      const sorted = action.messages.slice().sort((a, b) => compareIds(a.id, b.id));
      for (const m of sorted) {
        const known = (next.messages[m.roomId] ?? []).some((x) => x.status === 'sent' && x.id === m.id);
        next = known && !(m.deleted || m.deletedAt)
          ? { ...next, messages: { ...next.messages, [m.roomId]: upsertMessage(next.messages[m.roomId], m).list } }
          : applyReceived(next, m);
        next.lastSeenId = maxId(next.lastSeenId, m.id);
      }
      return next;
    }
    case 'typing': {
      if (state.session && action.userId === state.session.userId) return state;
      const room = { ...(state.typing[action.roomId] ?? {}) };
      if (action.isTyping) room[action.userId] = action.now + TYPING_TTL_MS;
      else delete room[action.userId];
      return { ...state, typing: { ...state.typing, [action.roomId]: room } };
    }
    case 'typing/expire': {
      let changed = false;
      const typing: ChatState['typing'] = {};
      for (const [roomId, users] of Object.entries(state.typing)) {
        const kept: Record<string, number> = {};
        for (const [u, exp] of Object.entries(users)) {
          if (exp > action.now) kept[u] = exp;
          else changed = true;
        }
        typing[roomId] = kept;
      }
      return changed ? { ...state, typing } : state;
    }
    case 'presence': {
      if (state.online[action.userId] === action.online) return state;
      return { ...state, online: { ...state.online, [action.userId]: action.online } };
    }
    case 'read':
      return applyRead(state, action.roomId, action.userId, action.messageId);
    case 'room/open': {
      const next = { ...state, activeRoomId: action.roomId };
      return action.roomId ? chatReducer(next, { type: 'room/markRead', roomId: action.roomId }) : next;
    }
    case 'room/markRead': {
      const conv = state.conversations[action.roomId];
      if (!conv || conv.unreadCount === 0) return state;
      return { ...state, conversations: { ...state.conversations, [conv.id]: { ...conv, unreadCount: 0 } } };
    }
    case 'support/queued':
      return { ...state, support: { ...state.support, [action.roomId]: { state: 'queued', position: action.position } } };
    case 'support/assigned':
      return { ...state, support: { ...state.support, [action.roomId]: { state: 'active', agent: action.agent } } };
    case 'support/ended':
      return { ...state, support: { ...state.support, [action.roomId]: { state: 'ended' } } };
    case 'agents/availability':
      return { ...state, agentsOnline: action.online, agentsByDepartment: action.departments ?? state.agentsByDepartment };
    default:
      return state;
  }
}

// ---------------------------------------------------------------- selectors

export function typingUserIds(state: ChatState, roomId: string, now: number): string[] {
  const room = state.typing[roomId] ?? {};
  return Object.entries(room)
    .filter(([, exp]) => exp > now)
    .map(([u]) => u);
}

/** Read tick: has anyone other than the author read this message (or a newer one)? */
export function isReadByOthers(state: ChatState, message: UiMessage): boolean {
  if (message.status !== 'sent') return false;
  const room = state.reads[message.roomId] ?? {};
  return Object.entries(room).some(
    ([userId, id]) => userId !== message.authorId && userId !== 'system' && compareIds(id, message.id) >= 0,
  );
}

export function totalUnread(state: ChatState): number {
  return Object.values(state.conversations).reduce((n, c) => n + (c.unreadCount || 0), 0);
}

export function conversationTitle(conv: Conversation, selfId: string | null | undefined): string {
  if (conv.name) return conv.name;
  const others = conv.participants.filter((p) => p.id !== selfId);
  if (others.length) return others.map((p) => p.name).join(', ');
  return conv.type === 'support' ? 'Support' : 'Conversation';
}

export function filterConversations(
  state: ChatState,
  opts: { type?: ConversationType | 'all'; search?: string },
): Conversation[] {
  const q = (opts.search ?? '').trim().toLowerCase();
  const self = state.session?.userId;
  return Object.values(state.conversations)
    .filter((c) => !opts.type || opts.type === 'all' || c.type === opts.type)
    .filter((c) => {
      if (!q) return true;
      const hay = [conversationTitle(c, self), c.lastMessage?.content ?? '', ...c.participants.map((p) => p.name)]
        .join(' ')
        .toLowerCase();
      return hay.includes(q);
    })
    .sort((a, b) => {
      const ai = a.lastMessage?.id ?? '';
      const bi = b.lastMessage?.id ?? '';
      return compareIds(bi, ai);
    });
}
