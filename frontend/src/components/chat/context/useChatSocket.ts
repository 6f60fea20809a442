// The provider's connection: acquires the shared socket for (url, token),
// turns every server event into a reducer action (one table, subscribed and
// unsubscribed together), follows the browser's online / offline events,
// syncs what was missed after every (re)connect, re-joins the open room and
// flushes the outbox; and the BroadcastChannel to the other tabs of the
// same user.
import { useEffect, type Dispatch, type MutableRefObject } from 'react';
import type { Socket } from 'socket.io-client';
import { compareIds, type ChatAction, type ChatState } from '@/lib/chat-store';
import type { Ack, ChatMessage, Conversation, Session } from '@/lib/chat-types';
import { acquireSocket, emitWithAck, releaseSocket } from '@/lib/socket-client';
import { createTabSync, saveDraft, type TabMessage, type TabSync } from '@/lib/tab-sync';
import { browserOnline, notifyHidden, rememberSession, rememberedSession, tokenKey } from './session';
import type { Outbox } from './useOutbox';

const SYNC_MAX_PAGES = 20;
/** Pause before reconnecting after the gateway disconnected this socket. */
export const SERVER_DISCONNECT_RETRY_MS = 1000;

export interface ChatSocketDeps {
  enabled: boolean;
  url: string;
  token: string | null;
  dispatch: Dispatch<ChatAction>;
  stateRef: MutableRefObject<ChatState>;
  socketRef: MutableRefObject<Socket | null>;
  tabRef: MutableRefObject<TabSync | null>;
  outbox: Outbox;
  refreshConversations: () => Promise<void>;
  loadHistory: (roomId: string) => Promise<void>;
  /** The latest `onSession` / `onAuthFailed` props and `notifications` flag. */
  callbacks: MutableRefObject<{ onSession?: (s: Session) => void; onAuthFailed?: () => void; notifications: boolean }>;
  setLastError: (e: string | null) => void;
  bumpDesk: () => void;
  bumpDrafts: () => void;
  /** After a session arrived (push when allowed earlier). */
  onSessionReady: (s: Session) => void;
}

/** Asks `sync` from the newest message seen, in bounded pages. */
async function syncMissed(socket: Socket, stateRef: MutableRefObject<ChatState>, dispatch: Dispatch<ChatAction>) {
  let since = stateRef.current.lastSeenId;
  if (!since) return;
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
}

export function useChatSocket(deps: ChatSocketDeps): void {
  const { enabled, url, token, dispatch, stateRef, socketRef, tabRef, outbox, refreshConversations, loadHistory } = deps;
  const { callbacks, setLastError, bumpDesk, bumpDrafts, onSessionReady } = deps;

  useEffect(() => {
    if (!enabled) return;
    const remembered = rememberedSession(token);
    if (remembered) {
      dispatch({ type: 'session', session: remembered });
      void outbox.showQueued(remembered);
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
          bumpDrafts();
          break;
        }
        case 'outbox:added':
          dispatch({ type: 'message/pending', message: msg.message });
          outbox.flush();
          break;
        case 'outbox:changed':
          outbox.flush();
          break;
      }
    });
    tabRef.current = tab;

    let reconnectTimer: ReturnType<typeof setTimeout> | undefined;

    const onSession = async (s: Session) => {
      const prev = stateRef.current.session;
      if (prev && prev.userId !== s.userId) dispatch({ type: 'reset' });
      // A new guest: reconnect as the same guest from now on (a network blip
      // must not turn the visitor into someone else).
      if (s.guestToken && !token) socket.auth = { token: s.guestToken };
      dispatch({ type: 'session', session: s });
      rememberSession(s.guestToken && !token ? s.guestToken : token, s);
      callbacks.current.onSession?.(s);
      await outbox.showQueued(s);
      await refreshConversations();
      await syncMissed(socket, stateRef, dispatch);
      const active = stateRef.current.activeRoomId;
      if (active) {
        await emitWithAck(socket, 'join', { roomId: active });
        await loadHistory(active);
      }
      outbox.flush();
      onSessionReady(s);
    };

    // Every server event and what it does; subscribed and unsubscribed as one table.
    const handlers = {
      connect: () => {
        setLastError(null);
        dispatch({ type: 'connection', status: 'connected' });
        // The console's views fetch again after a reconnect, as on a desk change.
        bumpDesk();
      },
      session: onSession,
      disconnect: (reason: string) => {
        dispatch({ type: 'connection', status: browserOnline() ? 'disconnected' : 'offline' });
        // The gateway disconnects a socket that fell too far behind (its
        // outgoing buffer overflowed) or that it drains on shutdown, and
        // socket.io-client does not reconnect by itself after a server-side
        // disconnect. Come back (the session handler then syncs what was
        // missed), after a pause so a server that keeps refusing is not hammered.
        if (reason === 'io server disconnect' && browserOnline()) {
          reconnectTimer = setTimeout(() => {
            if (!socket.connected) socket.connect();
          }, SERVER_DISCONNECT_RETRY_MS);
        }
      },
      connect_error: (err: Error) => {
        if (/auth/i.test(err.message)) {
          dispatch({ type: 'connection', status: 'auth_failed' });
          setLastError('Authentication failed');
          callbacks.current.onAuthFailed?.();
        } else {
          dispatch({ type: 'connection', status: 'disconnected' });
          setLastError('Cannot reach the chat server; retrying…');
        }
      },
      message: (m: ChatMessage) => {
        const st = stateRef.current;
        if (!st.conversations[m.roomId]) void refreshConversations();
        dispatch({ type: 'message/received', message: m });
        if (callbacks.current.notifications) notifyHidden(m, st.session?.userId);
      },
      'message:updated': (m: ChatMessage) => dispatch({ type: 'message/updated', message: m }),
      'message:deleted': (p: { roomId: string; messageId: string }) =>
        dispatch({ type: 'message/deleted', roomId: p.roomId, messageId: p.messageId }),
      'message:read': (p: { roomId: string; messageId: string; userId: string }) => {
        dispatch({ type: 'read', roomId: p.roomId, userId: p.userId, messageId: p.messageId });
        if (p.userId === stateRef.current.session?.userId) dispatch({ type: 'room/markRead', roomId: p.roomId });
      },
      'message:reaction': (p: { roomId: string; messageId: string; reactions: Record<string, string[]> }) =>
        dispatch({ type: 'message/reaction', roomId: p.roomId, messageId: p.messageId, reactions: p.reactions }),
      typing: (p: { userId: string; roomId: string; isTyping?: boolean }) =>
        dispatch({ type: 'typing', roomId: p.roomId, userId: p.userId, isTyping: p.isTyping !== false, now: Date.now() }),
      'user:online': (userId: string) => dispatch({ type: 'presence', userId: String(userId), online: true }),
      'user:offline': (userId: string) => dispatch({ type: 'presence', userId: String(userId), online: false }),
      'conversation:new': (c: Conversation) => dispatch({ type: 'conversation/upsert', conversation: c }),
      'conversation:updated': (c: Conversation) => dispatch({ type: 'conversation/upsert', conversation: c }),
      'support:queued': (p: { roomId: string; position?: number }) =>
        dispatch({ type: 'support/queued', roomId: p.roomId, position: p.position ?? null }),
      'support:assigned': (p: { roomId: string; agent?: { id: string; name: string } }) =>
        dispatch({ type: 'support/assigned', roomId: p.roomId, agent: p.agent ?? null }),
      'support:ended': (p: { roomId: string }) => dispatch({ type: 'support/ended', roomId: p.roomId }),
      'agent:availability': (p: { online: number; departments?: Record<string, number> }) =>
        dispatch({
          type: 'agents/availability',
          online: p.online,
          departments: p.departments && typeof p.departments === 'object' ? p.departments : null,
        }),
      'chat:error': (p: { event?: string; message?: string }) => setLastError(p.message ?? 'Something went wrong'),
      'support:desk:changed': () => bumpDesk(),
    };
    const table = Object.entries(handlers) as [string, (...args: unknown[]) => void][];
    for (const [event, handler] of table) socket.on(event, handler);

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

    if (browserOnline()) socket.connect();
    else dispatch({ type: 'connection', status: 'offline' });

    const typingTimer = setInterval(() => dispatch({ type: 'typing/expire', now: Date.now() }), 1000);

    return () => {
      clearInterval(typingTimer);
      clearTimeout(reconnectTimer);
      outbox.stop();
      window.removeEventListener('offline', goOffline);
      window.removeEventListener('online', goOnline);
      for (const [event, handler] of table) socket.off(event, handler);
      tab.close();
      tabRef.current = null;
      releaseSocket(url, token);
      socketRef.current = null;
    };
  }, [
    enabled,
    url,
    token,
    dispatch,
    stateRef,
    socketRef,
    tabRef,
    outbox,
    refreshConversations,
    loadHistory,
    callbacks,
    setLastError,
    bumpDesk,
    bumpDrafts,
    onSessionReady,
  ]);
}
