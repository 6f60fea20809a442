'use client';

import React, { createContext, useCallback, useContext, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import type { Socket } from 'socket.io-client';
import { chatReducer, compareIds, initialChatState, type ChatState } from '@/lib/chat-store';
import type {
  Ack,
  Attachment,
  ChatMessage,
  Conversation,
  DirectoryUser,
  QueryType,
  Session,
  UiMessage,
} from '@/lib/chat-types';
import { OfflineQueue, newClientId, type OutboxItem, type SendResult } from '@/lib/offline-queue';
import { acquireSocket, chatUrl, emitWithAck, isTransient, releaseSocket } from '@/lib/socket-client';
import { createTabSync, loadDraft, saveDraft, type TabMessage, type TabSync } from '@/lib/tab-sync';
import { uploadAttachment } from '@/lib/uploads';
import {
  browserServiceWorker,
  notificationPermission,
  subscribeToPush,
  unsubscribeFromPush,
  SERVICE_WORKER_URL,
  type PushResult,
  type PushStatus,
} from '@/lib/web-push';
import { sanitizeContent } from '@/lib/validation';

export interface SendInput {
  roomId?: string;
  recipientId?: string;
  content: string;
  attachments?: Attachment[];
  parentId?: string | null;
}

export interface SupportStartInput {
  name: string;
  email: string;
  queryType: QueryType;
  message?: string;
}

export interface SupportStartResult {
  conversation: Conversation;
  status: 'assigned' | 'queued';
  position?: number;
  agent?: { id: string; name: string };
}

export interface ChatContextValue {
  state: ChatState;
  url: string;
  token: string | null;
  session: Session | null;
  isConnected: boolean;
  lastError: string | null;
  sendMessage: (input: SendInput) => Promise<void>;
  retryMessage: (clientId: string) => Promise<void>;
  joinRoom: (roomId: string) => Promise<void>;
  leaveRoom: (roomId: string) => void;
  openRoom: (roomId: string | null) => void;
  markAsRead: (roomId: string) => void;
  startTyping: (roomId: string) => void;
  stopTyping: (roomId: string) => void;
  editMessage: (messageId: string, content: string) => Promise<Ack<{ message: ChatMessage }>>;
  deleteMessage: (messageId: string) => Promise<Ack<object>>;
  reactToMessage: (messageId: string, emoji: string) => Promise<Ack<{ reactions: Record<string, string[]> }>>;
  loadHistory: (roomId: string) => Promise<void>;
  loadOlder: (roomId: string) => Promise<void>;
  refreshConversations: () => Promise<void>;
  searchUsers: (query: string) => Promise<DirectoryUser[]>;
  createConversation: (input: { type: 'direct' | 'group' | 'channel'; participantIds: string[]; name?: string }) => Promise<Ack<{ conversation: Conversation }>>;
  startSupport: (input: SupportStartInput) => Promise<Ack<SupportStartResult>>;
  endSupport: (roomId: string) => Promise<Ack<object>>;
  rateSupport: (roomId: string, rating: number, comment?: string) => Promise<Ack<object>>;
  requestTranscript: (roomId: string, email?: string) => Promise<Ack<object>>;
  setAgentStatus: (available: boolean) => Promise<Ack<object>>;
  upload: (file: File, onProgress?: (f: number) => void) => Promise<Attachment>;
  getDraft: (roomId: string) => string;
  setDraft: (roomId: string, text: string) => void;
  draftVersion: number;
  /** Web Push for this browser: skipped, subscribed or failed (see `lib/web-push.ts`). */
  pushStatus: PushStatus;
  /** Subscribes this browser to Web Push (after the user allowed notifications). Never throws. */
  enablePush: () => Promise<PushResult>;
  /**
   * Drops this browser's Web Push subscription, telling the gateway first
   * (`push:unsubscribe`) so that it stops at once (call it on sign-out,
   * while still connected). Never throws.
   */
  disablePush: () => Promise<boolean>;
  /** Any event with an ack (the agent console's `support:*` requests). Never throws. */
  request: <T extends object>(event: string, payload: unknown) => Promise<Ack<T>>;
  /** Bumped on every `support:desk:changed` (and on connect): the console's views fetch again. */
  deskVersion: number;
}

const ChatContext = createContext<ChatContextValue | null>(null);

export interface ChatProviderProps {
  children: React.ReactNode;
  /** Gateway URL; defaults to NEXT_PUBLIC_CHAT_URL or http://localhost:3001. */
  url?: string;
  /** A JWT, a guest token issued earlier, or null for a new guest. */
  token?: string | null;
  /** Connect only while true (the public widget connects when first needed). */
  enabled?: boolean;
  onSession?: (session: Session) => void;
  onAuthFailed?: () => void;
  /** Show browser notifications for new messages while the tab is hidden. */
  notifications?: boolean;
  /**
   * Subscribe to the gateway's Web Push once notifications are allowed (not
   * for guests; skipped when the gateway has no key or the browser no push).
   */
  push?: boolean;
  /** The service worker script (served by the host app from `public/`). */
  serviceWorkerUrl?: string;
}

const SESSION_KEY = 'seitech-chat:session:';
const SYNC_MAX_PAGES = 20;
const RETRY_MAX_MS = 30000;

function tokenKey(token: string | null | undefined): string {
  const t = token ?? 'anonymous';
  return t.length > 48 ? t.slice(-48) : t;
}

function rememberedSession(token: string | null | undefined): Session | null {
  if (!token || typeof localStorage === 'undefined') return null;
  try {
    const raw = localStorage.getItem(SESSION_KEY + tokenKey(token));
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

/** Guests (public visitors) get no push notifications. */
export function isGuestSession(s: Session | null | undefined): boolean {
  return !s || s.role === 'public' || !!s.guestToken || s.userId.startsWith('guest_');
}

function outboxToUi(item: OutboxItem, session: Session | null): UiMessage {
  return {
    id: `pending:${item.clientId}`,
    roomId: item.roomId ?? '',
    authorId: session?.userId ?? item.owner,
    authorName: session?.name ?? '',
    content: item.content,
    type: item.attachments && item.attachments.length ? 'file' : 'text',
    attachments: item.attachmentObjects ?? [],
    parentId: item.parentId ?? null,
    clientId: item.clientId,
    createdAt: item.createdAt,
    editedAt: null,
    status: 'pending',
  };
}

export function ChatProvider({
  children,
  url: urlProp,
  token = null,
  enabled = true,
  onSession,
  onAuthFailed,
  notifications = true,
  push = true,
  serviceWorkerUrl = SERVICE_WORKER_URL,
}: ChatProviderProps) {
  const url = urlProp ?? chatUrl();
  const [state, dispatch] = useReducer(chatReducer, initialChatState);
  const [lastError, setLastError] = useState<string | null>(null);
  const [deskVersion, setDeskVersion] = useState(0);
  const [draftVersion, setDraftVersion] = useState(0);
  const stateRef = useRef(state);
  stateRef.current = state;
  const socketRef = useRef<Socket | null>(null);
  const queueRef = useRef<OfflineQueue | null>(null);
  const tabRef = useRef<TabSync | null>(null);
  const retryTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const retryDelay = useRef(1000);
  const typingSent = useRef<Record<string, number>>({});
  const attachmentsByClient = useRef<Record<string, Attachment[]>>({});
  const onSessionRef = useRef(onSession);
  onSessionRef.current = onSession;
  const onAuthFailedRef = useRef(onAuthFailed);
  onAuthFailedRef.current = onAuthFailed;
  const notifyRef = useRef(notifications);
  notifyRef.current = notifications;
  const [pushStatus, setPushStatus] = useState<PushStatus>('idle');
  const pushRef = useRef({ enabled: push, swUrl: serviceWorkerUrl });
  pushRef.current = { enabled: push, swUrl: serviceWorkerUrl };
  /** The user this provider last subscribed push for (once per user and mount). */
  const pushTriedFor = useRef<string | null>(null);
  const pushRun = useRef<Promise<PushResult> | null>(null);

  const online = () => typeof navigator === 'undefined' || navigator.onLine !== false;

  // ------------------------------------------------------------ outbox
  const ensureQueue = useCallback((owner: string): OfflineQueue => {
    if (!queueRef.current || queueRef.current.owner !== owner) queueRef.current = new OfflineQueue(owner);
    return queueRef.current;
  }, []);

  const showQueued = useCallback(async (queue: OfflineQueue, session: Session | null) => {
    for (const item of await queue.list()) {
      if (item.roomId) dispatch({ type: 'message/pending', message: outboxToUi(item, session) });
    }
  }, []);

  const flushRef = useRef<() => void>(() => undefined);

  const sendOne = useCallback(async (item: OutboxItem): Promise<SendResult> => {
    const socket = socketRef.current;
    if (!socket || !socket.connected || !online()) return 'retry';
    const ack = await emitWithAck<{ message: ChatMessage }>(socket, 'message', {
      roomId: item.roomId,
      recipientId: item.recipientId,
      content: item.content,
      attachments: item.attachments,
      clientId: item.clientId,
      parentId: item.parentId ?? undefined,
    });
    if (ack.ok) {
      if (ack.message) dispatch({ type: 'message/received', message: ack.message });
      delete attachmentsByClient.current[item.clientId];
      return 'sent';
    }
    if (isTransient(ack.error.code)) return 'retry';
    dispatch({ type: 'message/failed', clientId: item.clientId, error: ack.error.message || ack.error.code });
    return 'drop';
  }, []);

  const flush = useCallback(async () => {
    const queue = queueRef.current;
    const socket = socketRef.current;
    if (!queue || !socket || !socket.connected || !online()) return;
    const result = await queue.flush(sendOne);
    if (result.sent || result.dropped) tabRef.current?.post({ kind: 'outbox:changed' });
    if (result.remaining !== 0 && socket.connected) {
      // Something is left: rate limited, a lost ack, or another tab holds the
      // lock. Try again with backoff (bounded) while connected.
      if (retryTimer.current) clearTimeout(retryTimer.current);
      const delay = result.remaining === -1 ? 500 : retryDelay.current;
      retryDelay.current = Math.min(retryDelay.current * 2, RETRY_MAX_MS);
      retryTimer.current = setTimeout(() => flushRef.current(), delay);
    } else {
      retryDelay.current = 1000;
    }
  }, [sendOne]);
  flushRef.current = () => {
    void flush();
  };

  // ------------------------------------------------------------ data loading
  const refreshConversations = useCallback(async () => {
    const socket = socketRef.current;
    if (!socket) return;
    const ack = await emitWithAck<{ conversations: Conversation[] }>(socket, 'conversations:list', {});
    if (ack.ok) dispatch({ type: 'conversations/set', conversations: ack.conversations ?? [] });
  }, []);

  const loadHistory = useCallback(async (roomId: string) => {
    const socket = socketRef.current;
    if (!socket) return;
    const ack = await emitWithAck<{ messages: ChatMessage[]; hasMore: boolean }>(socket, 'messages:history', { roomId, limit: 30 });
    if (ack.ok) dispatch({ type: 'history/loaded', roomId, messages: ack.messages ?? [], hasMore: !!ack.hasMore, older: false });
  }, []);

  const loadOlder = useCallback(async (roomId: string) => {
    const socket = socketRef.current;
    if (!socket) return;
    const list = stateRef.current.messages[roomId] ?? [];
    const oldest = list.find((m) => m.status === 'sent');
    const ack = await emitWithAck<{ messages: ChatMessage[]; hasMore: boolean }>(socket, 'messages:history', {
      roomId,
      before: oldest?.id,
      limit: 30,
    });
    if (ack.ok) dispatch({ type: 'history/loaded', roomId, messages: ack.messages ?? [], hasMore: !!ack.hasMore, older: true });
  }, []);

  const syncMissed = useCallback(async () => {
    const socket = socketRef.current;
    let since = stateRef.current.lastSeenId;
    if (!socket || !since) return;
    for (let page = 0; page < SYNC_MAX_PAGES; page++) {
      const ack: Ack<{ messages: ChatMessage[]; hasMore: boolean }> = await emitWithAck<{ messages: ChatMessage[]; hasMore: boolean }>(
        socket,
        'sync',
        { since },
      );
      if (!ack.ok) return;
      const msgs: ChatMessage[] = ack.messages ?? [];
      if (msgs.length) dispatch({ type: 'sync/applied', messages: msgs });
      if (!ack.hasMore || !msgs.length) return;
      since = msgs.reduce((m: string, x: ChatMessage) => (compareIds(x.id, m) > 0 ? x.id : m), since as string);
    }
  }, []);

  // ------------------------------------------------------------ web push
  const enablePush = useCallback((): Promise<PushResult> => {
    // One attempt at a time; a second caller shares the running one.
    if (pushRun.current) return pushRun.current;
    const session = stateRef.current.session;
    const run = (async () => {
      setPushStatus('subscribing');
      const result = await subscribeToPush({
        baseUrl: url,
        isGuest: isGuestSession(session),
        permission: notificationPermission(),
        serviceWorker: pushRef.current.enabled ? browserServiceWorker() : null,
        fetch: (input, init) => fetch(input, init),
        emit: (event, payload) => {
          const socket = socketRef.current;
          if (!socket) return Promise.resolve({ ok: false, error: { code: 'offline', message: 'Not connected' } });
          return emitWithAck<object>(socket, event, payload);
        },
        serviceWorkerUrl: pushRef.current.swUrl,
      });
      setPushStatus(result.status);
      if (result.status === 'failed' && typeof console !== 'undefined') {
        console.info(`seitech-chat: Web Push not enabled: ${result.message ?? 'unknown reason'}`);
      }
      return result;
    })();
    pushRun.current = run;
    void run.finally(() => {
      if (pushRun.current === run) pushRun.current = null;
    });
    return run;
  }, [url]);
  const disablePush = useCallback(async (): Promise<boolean> => {
    // A subscription on its way would come back after the unsubscription.
    if (pushRun.current) await pushRun.current;
    const dropped = await unsubscribeFromPush(browserServiceWorker(), {
      emit: (event, payload) => {
        const socket = socketRef.current;
        if (!socket) return Promise.resolve({ ok: false, error: { code: 'offline', message: 'Not connected' } });
        return emitWithAck<object>(socket, event, payload);
      },
    });
    setPushStatus('idle');
    return dropped;
  }, []);
  const enablePushRef = useRef(enablePush);
  enablePushRef.current = enablePush;

  // The service worker asks for a new subscription when the push service replaced it.
  useEffect(() => {
    if (!enabled || !push || typeof navigator === 'undefined' || !navigator.serviceWorker) return;
    const container = navigator.serviceWorker;
    const onMessage = (ev: MessageEvent) => {
      if ((ev.data as { type?: string } | null)?.type === 'seitech-chat:resubscribe') void enablePushRef.current();
    };
    container.addEventListener('message', onMessage);
    return () => container.removeEventListener('message', onMessage);
  }, [enabled, push]);

  // ------------------------------------------------------------ the socket
  useEffect(() => {
    if (!enabled) return;
    const remembered = rememberedSession(token);
    if (remembered) {
      dispatch({ type: 'session', session: remembered });
      const q = ensureQueue(remembered.userId);
      void showQueued(q, remembered);
    }
    const socket = acquireSocket(url, token);
    socketRef.current = socket;
    dispatch({ type: 'connection', status: 'connecting' });

    const tab = createTabSync(`seitech-chat:${tokenKey(token)}`, (msg: TabMessage) => {
      switch (msg.kind) {
        case 'read':
          dispatch({ type: 'room/markRead', roomId: msg.roomId });
          break;
        case 'draft': {
          const owner = stateRef.current.session?.userId;
          if (owner) saveDraft(owner, msg.roomId, msg.text);
          setDraftVersion((v) => v + 1);
          break;
        }
        case 'outbox:added':
          dispatch({ type: 'message/pending', message: msg.message });
          flushRef.current();
          break;
        case 'outbox:changed':
          flushRef.current();
          break;
      }
    });
    tabRef.current = tab;

    const onConnect = () => {
      setLastError(null);
      dispatch({ type: 'connection', status: 'connected' });
    };
    const onSessionEvt = async (s: Session) => {
      const prev = stateRef.current.session;
      if (prev && prev.userId !== s.userId) dispatch({ type: 'reset' });
      // A new guest: reconnect as the same guest from now on (a network blip
      // must not turn the visitor into someone else).
      if (s.guestToken && !token) socket.auth = { token: s.guestToken };
      dispatch({ type: 'session', session: s });
      try {
        localStorage.setItem(SESSION_KEY + tokenKey(s.guestToken && !token ? s.guestToken : token), JSON.stringify(s));
      } catch {
        /* storage disabled */
      }
      onSessionRef.current?.(s);
      const q = ensureQueue(s.userId);
      await showQueued(q, s);
      await refreshConversations();
      await syncMissed();
      const active = stateRef.current.activeRoomId;
      if (active) {
        await emitWithAck(socket, 'join', { roomId: active });
        await loadHistory(active);
      }
      flushRef.current();
      // Notifications allowed earlier: (re)subscribe this browser for this
      // user, once per user (the gateway moves an endpoint to whoever
      // subscribed it last).
      if (
        pushRef.current.enabled &&
        notifyRef.current &&
        !isGuestSession(s) &&
        pushTriedFor.current !== s.userId &&
        notificationPermission() === 'granted'
      ) {
        pushTriedFor.current = s.userId;
        void enablePushRef.current();
      }
    };
    const onDisconnect = () => {
      dispatch({ type: 'connection', status: online() ? 'disconnected' : 'offline' });
    };
    const onConnectError = (err: Error) => {
      if (/auth/i.test(err.message)) {
        dispatch({ type: 'connection', status: 'auth_failed' });
        setLastError('Authentication failed');
        onAuthFailedRef.current?.();
      } else {
        dispatch({ type: 'connection', status: 'disconnected' });
        setLastError('Cannot reach the chat server; retrying…');
      }
    };
    const onMessage = (m: ChatMessage) => {
      const st = stateRef.current;
      if (!st.conversations[m.roomId]) void refreshConversations();
      dispatch({ type: 'message/received', message: m });
      const mine = st.session && m.authorId === st.session.userId;
      if (
        !mine &&
        notifyRef.current &&
        typeof document !== 'undefined' &&
        document.hidden &&
        typeof Notification !== 'undefined' &&
        Notification.permission === 'granted'
      ) {
        try {
          new Notification(m.authorName || 'New message', { body: m.content.slice(0, 140), tag: m.roomId });
        } catch {
          /* notifications unavailable in this context */
        }
      }
    };
    const onUpdated = (m: ChatMessage) => dispatch({ type: 'message/updated', message: m });
    const onDeleted = (p: { roomId: string; messageId: string }) =>
      dispatch({ type: 'message/deleted', roomId: p.roomId, messageId: p.messageId });
    const onRead = (p: { roomId: string; messageId: string; userId: string }) => {
      dispatch({ type: 'read', roomId: p.roomId, userId: p.userId, messageId: p.messageId });
      if (p.userId === stateRef.current.session?.userId) dispatch({ type: 'room/markRead', roomId: p.roomId });
    };
    const onReaction = (p: { roomId: string; messageId: string; reactions: Record<string, string[]> }) =>
      dispatch({ type: 'message/reaction', roomId: p.roomId, messageId: p.messageId, reactions: p.reactions });
    const onTyping = (p: { userId: string; roomId: string; isTyping?: boolean }) =>
      dispatch({ type: 'typing', roomId: p.roomId, userId: p.userId, isTyping: p.isTyping !== false, now: Date.now() });
    const onOnline = (userId: string) => dispatch({ type: 'presence', userId: String(userId), online: true });
    const onOffline = (userId: string) => dispatch({ type: 'presence', userId: String(userId), online: false });
    const onConversation = (c: Conversation) => dispatch({ type: 'conversation/upsert', conversation: c });
    const onQueued = (p: { roomId: string; position?: number }) =>
      dispatch({ type: 'support/queued', roomId: p.roomId, position: p.position ?? null });
    const onAssigned = (p: { roomId: string; agent?: { id: string; name: string } }) =>
      dispatch({ type: 'support/assigned', roomId: p.roomId, agent: p.agent ?? null });
    const onEnded = (p: { roomId: string }) => dispatch({ type: 'support/ended', roomId: p.roomId });
    const onAvailability = (p: { online: number; departments?: Record<string, number> }) =>
      dispatch({
        type: 'agents/availability',
        online: p.online,
        departments: p.departments && typeof p.departments === 'object' ? p.departments : null,
      });
    const onChatError = (p: { event?: string; message?: string }) => setLastError(p.message ?? 'Something went wrong');
    const onDeskChanged = () => setDeskVersion((v) => v + 1);

    socket.on('connect', onConnect);
    socket.on('session', onSessionEvt);
    socket.on('disconnect', onDisconnect);
    socket.on('connect_error', onConnectError);
    socket.on('message', onMessage);
    socket.on('message:updated', onUpdated);
    socket.on('message:deleted', onDeleted);
    socket.on('message:read', onRead);
    socket.on('message:reaction', onReaction);
    socket.on('typing', onTyping);
    socket.on('user:online', onOnline);
    socket.on('user:offline', onOffline);
    socket.on('conversation:new', onConversation);
    socket.on('conversation:updated', onConversation);
    socket.on('support:queued', onQueued);
    socket.on('support:assigned', onAssigned);
    socket.on('support:ended', onEnded);
    socket.on('agent:availability', onAvailability);
    socket.on('chat:error', onChatError);
    socket.on('support:desk:changed', onDeskChanged);
    socket.on('connect', onDeskChanged);

    // The browser knows first when the network goes: stop using the socket
    // and queue; reconnect (then sync and flush) as soon as it is back.
    const goOffline = () => {
      dispatch({ type: 'connection', status: 'offline' });
      socket.disconnect();
    };
    const goOnline = () => {
      dispatch({ type: 'connection', status: 'connecting' });
      if (!socket.connected) socket.connect();
    };
    window.addEventListener('offline', goOffline);
    window.addEventListener('online', goOnline);

    if (online()) socket.connect();
    else dispatch({ type: 'connection', status: 'offline' });

    const typingTimer = setInterval(() => dispatch({ type: 'typing/expire', now: Date.now() }), 1000);

    return () => {
      clearInterval(typingTimer);
      if (retryTimer.current) clearTimeout(retryTimer.current);
      window.removeEventListener('offline', goOffline);
      window.removeEventListener('online', goOnline);
      socket.off('connect', onConnect);
      socket.off('session', onSessionEvt);
      socket.off('disconnect', onDisconnect);
      socket.off('connect_error', onConnectError);
      socket.off('message', onMessage);
      socket.off('message:updated', onUpdated);
      socket.off('message:deleted', onDeleted);
      socket.off('message:read', onRead);
      socket.off('message:reaction', onReaction);
      socket.off('typing', onTyping);
      socket.off('user:online', onOnline);
      socket.off('user:offline', onOffline);
      socket.off('conversation:new', onConversation);
      socket.off('conversation:updated', onConversation);
      socket.off('support:queued', onQueued);
      socket.off('support:assigned', onAssigned);
      socket.off('support:ended', onEnded);
      socket.off('agent:availability', onAvailability);
      socket.off('chat:error', onChatError);
      socket.off('support:desk:changed', onDeskChanged);
      socket.off('connect', onDeskChanged);
      tab.close();
      tabRef.current = null;
      releaseSocket(url, token);
      socketRef.current = null;
    };
  }, [enabled, url, token, ensureQueue, showQueued, refreshConversations, syncMissed, loadHistory]);

  // ------------------------------------------------------------ actions
  const sendMessage = useCallback(
    async (input: SendInput) => {
      const content = sanitizeContent(input.content);
      const attachments = input.attachments ?? [];
      if (!content && attachments.length === 0) return;
      const session = stateRef.current.session;
      const socket = socketRef.current;
      if (!input.roomId) {
        // A first message to someone: the gateway finds or creates the room.
        if (!socket) throw new Error('Not connected');
        const ack = await emitWithAck<{ message: ChatMessage }>(socket, 'message', {
          recipientId: input.recipientId,
          content,
          attachments: attachments.map((a) => a.id),
          clientId: newClientId(),
        });
        if (!ack.ok) throw new Error(ack.error.message);
        await refreshConversations();
        dispatch({ type: 'message/received', message: ack.message });
        return;
      }
      if (!session) throw new Error('Not signed in to the chat yet');
      const clientId = newClientId();
      const createdAt = new Date().toISOString();
      const pending: UiMessage = {
        id: `pending:${clientId}`,
        roomId: input.roomId,
        authorId: session.userId,
        authorName: session.name,
        content,
        type: attachments.length ? 'file' : 'text',
        attachments,
        parentId: input.parentId ?? null,
        clientId,
        createdAt,
        editedAt: null,
        status: 'pending',
      };
      attachmentsByClient.current[clientId] = attachments;
      dispatch({ type: 'message/pending', message: pending });
      const queue = ensureQueue(session.userId);
      await queue.add({
        clientId,
        roomId: input.roomId,
        content,
        attachments: attachments.map((a) => a.id),
        attachmentObjects: attachments,
        parentId: input.parentId ?? null,
        createdAt,
      });
      tabRef.current?.post({ kind: 'outbox:added', message: pending });
      stopTypingRef.current(input.roomId);
      void flush();
    },
    [ensureQueue, flush, refreshConversations],
  );

  const retryMessage = useCallback(
    async (clientId: string) => {
      const session = stateRef.current.session;
      if (!session) return;
      let found: UiMessage | undefined;
      for (const list of Object.values(stateRef.current.messages)) {
        found = list.find((m) => m.clientId === clientId && m.status === 'failed');
        if (found) break;
      }
      if (!found) return;
      dispatch({ type: 'message/retry', clientId });
      await ensureQueue(session.userId).add({
        clientId,
        roomId: found.roomId,
        content: found.content,
        attachments: found.attachments.map((a) => a.id),
        attachmentObjects: found.attachments,
        parentId: found.parentId,
        createdAt: found.createdAt,
      });
      void flush();
    },
    [ensureQueue, flush],
  );

  const joinRoom = useCallback(async (roomId: string) => {
    const socket = socketRef.current;
    if (!socket) return;
    await emitWithAck(socket, 'join', { roomId });
  }, []);

  const leaveRoom = useCallback((roomId: string) => {
    socketRef.current?.emit('leave', { roomId });
  }, []);

  const markAsRead = useCallback((roomId: string) => {
    const st = stateRef.current;
    const me = st.session?.userId;
    const list = st.messages[roomId] ?? [];
    let newest: UiMessage | undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].status === 'sent') {
        newest = list[i];
        break;
      }
    }
    if (!me || !newest) return;
    const mine = st.reads[roomId]?.[me];
    const conv = st.conversations[roomId];
    if (mine && compareIds(mine, newest.id) >= 0 && (!conv || conv.unreadCount === 0)) return;
    dispatch({ type: 'read', roomId, userId: me, messageId: newest.id });
    dispatch({ type: 'room/markRead', roomId });
    socketRef.current?.emit('read', { roomId, messageId: newest.id });
    tabRef.current?.post({ kind: 'read', roomId, messageId: newest.id });
  }, []);

  const openRoom = useCallback(
    (roomId: string | null) => {
      dispatch({ type: 'room/open', roomId });
      if (roomId) {
        void (async () => {
          await joinRoom(roomId);
          await loadHistory(roomId);
        })();
      }
    },
    [joinRoom, loadHistory],
  );

  const startTyping = useCallback((roomId: string) => {
    const now = Date.now();
    const last = typingSent.current[roomId] ?? 0;
    if (now - last < 2500) return;
    typingSent.current[roomId] = now;
    socketRef.current?.emit('typing', { roomId, isTyping: true });
  }, []);

  const stopTyping = useCallback((roomId: string) => {
    if (!typingSent.current[roomId]) return;
    typingSent.current[roomId] = 0;
    socketRef.current?.emit('typing', { roomId, isTyping: false });
  }, []);
  const stopTypingRef = useRef(stopTyping);
  stopTypingRef.current = stopTyping;

  const call = useCallback(<T extends object>(event: string, payload: unknown): Promise<Ack<T>> => {
    const socket = socketRef.current;
    if (!socket) return Promise.resolve({ ok: false, error: { code: 'offline', message: 'Not connected' } });
    return emitWithAck<T>(socket, event, payload);
  }, []);

  const editMessage = useCallback(
    async (messageId: string, content: string) => {
      const ack = await call<{ message: ChatMessage }>('message:edit', { messageId, content: sanitizeContent(content) });
      if (ack.ok && ack.message) dispatch({ type: 'message/updated', message: ack.message });
      return ack;
    },
    [call],
  );

  const deleteMessage = useCallback(
    async (messageId: string) => {
      const ack = await call<object>('message:delete', { messageId });
      if (ack.ok) {
        for (const [roomId, list] of Object.entries(stateRef.current.messages)) {
          if (list.some((m) => m.id === messageId)) dispatch({ type: 'message/deleted', roomId, messageId });
        }
      }
      return ack;
    },
    [call],
  );

  const reactToMessage = useCallback(
    async (messageId: string, emoji: string) => {
      const ack = await call<{ reactions: Record<string, string[]> }>('message:react', { messageId, emoji });
      if (ack.ok) {
        for (const [roomId, list] of Object.entries(stateRef.current.messages)) {
          if (list.some((m) => m.id === messageId))
            dispatch({ type: 'message/reaction', roomId, messageId, reactions: ack.reactions ?? {} });
        }
      }
      return ack;
    },
    [call],
  );

  const searchUsers = useCallback(
    async (query: string) => {
      const ack = await call<{ users: DirectoryUser[] }>('users:search', { query });
      return ack.ok ? ack.users ?? [] : [];
    },
    [call],
  );

  const createConversation = useCallback(
    async (input: { type: 'direct' | 'group' | 'channel'; participantIds: string[]; name?: string }) => {
      const ack = await call<{ conversation: Conversation }>('conversation:create', input);
      if (ack.ok && ack.conversation) dispatch({ type: 'conversation/upsert', conversation: ack.conversation });
      return ack;
    },
    [call],
  );

  const startSupport = useCallback(
    async (input: SupportStartInput) => {
      const ack = await call<SupportStartResult>('support:start', input);
      if (ack.ok && ack.conversation) {
        dispatch({ type: 'conversation/upsert', conversation: ack.conversation });
        if (ack.status === 'queued') dispatch({ type: 'support/queued', roomId: ack.conversation.id, position: ack.position ?? null });
        else dispatch({ type: 'support/assigned', roomId: ack.conversation.id, agent: ack.agent ?? null });
      }
      return ack;
    },
    [call],
  );

  const endSupport = useCallback(
    async (roomId: string) => {
      const ack = await call<object>('support:end', { roomId });
      if (ack.ok) dispatch({ type: 'support/ended', roomId });
      return ack;
    },
    [call],
  );

  const rateSupport = useCallback(
    (roomId: string, rating: number, comment?: string) => call<object>('support:rate', { roomId, rating, comment }),
    [call],
  );

  const requestTranscript = useCallback(
    (roomId: string, email?: string) => call<object>('support:transcript', email ? { roomId, email } : { roomId }),
    [call],
  );

  const setAgentStatus = useCallback((available: boolean) => call<object>('agent:status', { available }), [call]);

  const upload = useCallback(
    (file: File, onProgress?: (f: number) => void) => {
      const s = stateRef.current.session;
      const bearer = token ?? s?.guestToken ?? null;
      return uploadAttachment(url, bearer, file, onProgress);
    },
    [url, token],
  );

  const getDraft = useCallback((roomId: string) => {
    const owner = stateRef.current.session?.userId;
    return owner ? loadDraft(owner, roomId) : '';
  }, []);

  const setDraft = useCallback((roomId: string, text: string) => {
    const owner = stateRef.current.session?.userId;
    if (!owner) return;
    saveDraft(owner, roomId, text);
    tabRef.current?.post({ kind: 'draft', roomId, text });
  }, []);

  const value = useMemo<ChatContextValue>(
    () => ({
      state,
      url,
      token,
      session: state.session,
      isConnected: state.connection === 'connected',
      lastError,
      sendMessage,
      retryMessage,
      joinRoom,
      leaveRoom,
      openRoom,
      markAsRead,
      startTyping,
      stopTyping,
      editMessage,
      deleteMessage,
      reactToMessage,
      loadHistory,
      loadOlder,
      refreshConversations,
      searchUsers,
      createConversation,
      startSupport,
      endSupport,
      rateSupport,
      requestTranscript,
      setAgentStatus,
      upload,
      getDraft,
      setDraft,
      draftVersion,
      pushStatus,
      enablePush,
      disablePush,
      request: call,
      deskVersion,
    }),
    [
      state,
      url,
      token,
      lastError,
      sendMessage,
      retryMessage,
      joinRoom,
      leaveRoom,
      openRoom,
      markAsRead,
      startTyping,
      stopTyping,
      editMessage,
      deleteMessage,
      reactToMessage,
      loadHistory,
      loadOlder,
      refreshConversations,
      searchUsers,
      createConversation,
      startSupport,
      endSupport,
      rateSupport,
      requestTranscript,
      setAgentStatus,
      upload,
      getDraft,
      setDraft,
      draftVersion,
      pushStatus,
      enablePush,
      disablePush,
      call,
      deskVersion,
    ],
  );

  return <ChatContext.Provider value={value}>{children}</ChatContext.Provider>;
}

export function useChat(): ChatContextValue {
  const ctx = useContext(ChatContext);
  if (!ctx) throw new Error('useChat must be used inside <ChatProvider>');
  return ctx;
}

/** The chat context if there is one (components that also work standalone). */
export function useOptionalChat(): ChatContextValue | null {
  return useContext(ChatContext);
}
