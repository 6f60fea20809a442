'use client';

// The chat provider and its hooks. The provider owns the reducer state and
// wires three hooks together: `useChatSocket` (the connection and its
// events), `useOutbox` (the IndexedDB queue every message goes through) and
// `usePush` (Web Push); `useActions` builds what components call. State and
// actions are two contexts: `useChatActions()` does not re-render on state
// changes; `useChat()` returns both together, as it always did.
import React, { createContext, useCallback, useContext, useMemo, useReducer, useRef, useState } from 'react';
import type { Socket } from 'socket.io-client';
import { chatReducer, initialChatState } from '@/lib/chat-store';
import { chatUrl } from '@/lib/socket-client';
import type { TabSync } from '@/lib/tab-sync';
import { SERVICE_WORKER_URL } from '@/lib/web-push';
import type { ChatActions, ChatContextValue, ChatProviderProps, ChatStateValue } from './context/types';
import { useActions } from './context/useActions';
import { useChatSocket } from './context/useChatSocket';
import { useOutbox } from './context/useOutbox';
import { usePush } from './context/usePush';

export type {
  ChatActions,
  ChatContextValue,
  ChatProviderProps,
  ChatStateValue,
  SendInput,
  SupportStartInput,
  SupportStartResult,
} from './context/types';
export { isGuestSession } from './context/session';

const ChatStateContext = createContext<ChatStateValue | null>(null);
const ChatActionsContext = createContext<ChatActions | null>(null);

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
  const sessionRef = useRef(state.session);
  sessionRef.current = state.session;
  const socketRef = useRef<Socket | null>(null);
  const tabRef = useRef<TabSync | null>(null);
  const callbacks = useRef({ onSession, onAuthFailed, notifications });
  callbacks.current = { onSession, onAuthFailed, notifications };

  const outbox = useOutbox({ socketRef, tabRef, dispatch });
  const webPush = usePush({ url, enabled, push, notifications, serviceWorkerUrl, socketRef, sessionRef });
  const core = useActions({ url, token, dispatch, stateRef, socketRef, tabRef, outbox });
  const bumpDesk = useCallback(() => setDeskVersion((v) => v + 1), []);
  const bumpDrafts = useCallback(() => setDraftVersion((v) => v + 1), []);
  useChatSocket({
    enabled,
    url,
    token,
    dispatch,
    stateRef,
    socketRef,
    tabRef,
    outbox,
    refreshConversations: core.refreshConversations,
    loadHistory: core.loadHistory,
    callbacks,
    setLastError,
    bumpDesk,
    bumpDrafts,
    onSessionReady: webPush.subscribeIfAllowed,
  });

  const { enablePush, disablePush, pushStatus } = webPush;
  const actions = useMemo<ChatActions>(() => ({ ...core, enablePush, disablePush }), [core, enablePush, disablePush]);
  const stateValue = useMemo<ChatStateValue>(
    () => ({
      state,
      url,
      token,
      session: state.session,
      isConnected: state.connection === 'connected',
      lastError,
      draftVersion,
      pushStatus,
      deskVersion,
    }),
    [state, url, token, lastError, draftVersion, pushStatus, deskVersion],
  );

  return (
    <ChatActionsContext.Provider value={actions}>
      <ChatStateContext.Provider value={stateValue}>{children}</ChatStateContext.Provider>
    </ChatActionsContext.Provider>
  );
}

/** State and actions together, or null outside a provider. */
function useCombined(): ChatContextValue | null {
  const state = useContext(ChatStateContext);
  const actions = useContext(ChatActionsContext);
  return useMemo(() => (state && actions ? { ...state, ...actions } : null), [state, actions]);
}

export function useChat(): ChatContextValue {
  const ctx = useCombined();
  if (!ctx) throw new Error('useChat must be used inside <ChatProvider>');
  return ctx;
}

/** The chat context if there is one (components that also work standalone). */
export function useOptionalChat(): ChatContextValue | null {
  return useCombined();
}

/** The chat's state only (re-renders on every state change). */
export function useChatState(): ChatStateValue {
  const ctx = useContext(ChatStateContext);
  if (!ctx) throw new Error('useChatState must be used inside <ChatProvider>');
  return ctx;
}

/** The chat's actions only: stable functions, no re-render when the state changes. */
export function useChatActions(): ChatActions {
  const ctx = useContext(ChatActionsContext);
  if (!ctx) throw new Error('useChatActions must be used inside <ChatProvider>');
  return ctx;
}
