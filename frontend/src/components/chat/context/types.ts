// The chat provider's public types: its props, the state and the actions it
// offers (two contexts, so that a component using only actions does not
// re-render on every state change), and `ChatContextValue`, both together,
// which `useChat()` returns.
import type React from 'react';
import type { ChatState } from '@/lib/chat-store';
import type { Ack, Attachment, ChatMessage, Conversation, DirectoryUser, QueryType, Session } from '@/lib/chat-types';
import type { PushResult, PushStatus } from '@/lib/web-push';

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
  /** The page the widget was opened on; startSupport fills it in from the browser. */
  pageUrl?: string;
}

export interface SupportStartResult {
  conversation: Conversation;
  status: 'assigned' | 'queued';
  position?: number;
  agent?: { id: string; name: string };
}

/** What the provider knows: changes with every event (`useChatState()`). */
export interface ChatStateValue {
  state: ChatState;
  url: string;
  token: string | null;
  session: Session | null;
  isConnected: boolean;
  lastError: string | null;
  draftVersion: number;
  /** Web Push for this browser: skipped, subscribed or failed (see `lib/web-push.ts`). */
  pushStatus: PushStatus;
  /** Bumped on every `support:desk:changed` (and on connect): the console's views fetch again. */
  deskVersion: number;
}

/** What a component can do: functions that keep their identity (`useChatActions()`). */
export interface ChatActions {
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
}

/** State and actions together: what `useChat()` returns. */
export interface ChatContextValue extends ChatStateValue, ChatActions {}

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
