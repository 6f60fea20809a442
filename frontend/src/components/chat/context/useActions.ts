// The provider's actions: what a component can ask of the chat (send, read,
// type, edit, history, support requests, uploads, drafts). Each reads the
// latest state through a ref, so every action keeps its identity for the
// provider's lifetime (or until the url or token change) and the actions
// context does not change with the state.
import { useCallback, useMemo, useRef, type Dispatch, type MutableRefObject } from 'react';
import type { Socket } from 'socket.io-client';
import { compareIds, type ChatAction, type ChatState } from '@/lib/chat-store';
import type { Ack, ChatMessage, Conversation, DirectoryUser, UiMessage } from '@/lib/chat-types';
import { newClientId } from '@/lib/offline-queue';
import { emitWithAck } from '@/lib/socket-client';
import { loadDraft, saveDraft, type TabSync } from '@/lib/tab-sync';
import { uploadAttachment } from '@/lib/uploads';
import { sanitizeContent } from '@/lib/validation';
import type { ChatActions, SendInput, SupportStartInput, SupportStartResult } from './types';
import type { Outbox } from './useOutbox';

export interface ActionDeps {
  url: string;
  token: string | null;
  dispatch: Dispatch<ChatAction>;
  stateRef: MutableRefObject<ChatState>;
  socketRef: MutableRefObject<Socket | null>;
  tabRef: MutableRefObject<TabSync | null>;
  outbox: Outbox;
}

/** Everything but Web Push (`usePush`). */
export type CoreActions = Omit<ChatActions, 'enablePush' | 'disablePush'>;

/** The page the visitor is on, for the agent's visitor panel: an http(s) URL
 *  the gateway accepts (at most 2048 bytes), or nothing. */
function currentPage(): string | undefined {
  if (typeof window === 'undefined') return undefined;
  const href = window.location?.href ?? '';
  return /^https?:\/\/[^/]/i.test(href) && href.length <= 2048 ? href : undefined;
}

export function useActions({ url, token, dispatch, stateRef, socketRef, tabRef, outbox }: ActionDeps): CoreActions {
  const typingSent = useRef<Record<string, number>>({});

  // ------------------------------------------------------------ data loading
  const refreshConversations = useCallback(async () => {
    const socket = socketRef.current;
    if (!socket) return;
    const ack = await emitWithAck<{ conversations: Conversation[] }>(socket, 'conversations:list', {});
    if (ack.ok) dispatch({ type: 'conversations/set', conversations: ack.conversations ?? [] });
  }, [socketRef, dispatch]);

  const loadHistory = useCallback(
    async (roomId: string) => {
      const socket = socketRef.current;
      if (!socket) return;
      const ack = await emitWithAck<{ messages: ChatMessage[]; hasMore: boolean }>(socket, 'messages:history', { roomId, limit: 30 });
      if (ack.ok) dispatch({ type: 'history/loaded', roomId, messages: ack.messages ?? [], hasMore: !!ack.hasMore, older: false });
    },
    [socketRef, dispatch],
  );

  const loadOlder = useCallback(
    async (roomId: string) => {
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
    },
    [socketRef, stateRef, dispatch],
  );

  // ------------------------------------------------------------ typing
  const startTyping = useCallback(
    (roomId: string) => {
      const now = Date.now();
      const last = typingSent.current[roomId] ?? 0;
      if (now - last < 2500) return;
      typingSent.current[roomId] = now;
      socketRef.current?.emit('typing', { roomId, isTyping: true });
    },
    [socketRef],
  );

  const stopTyping = useCallback(
    (roomId: string) => {
      if (!typingSent.current[roomId]) return;
      typingSent.current[roomId] = 0;
      socketRef.current?.emit('typing', { roomId, isTyping: false });
    },
    [socketRef],
  );

  // ------------------------------------------------------------ messages
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
      dispatch({ type: 'message/pending', message: pending });
      await outbox.add(session.userId, {
        clientId,
        roomId: input.roomId,
        content,
        attachments: attachments.map((a) => a.id),
        attachmentObjects: attachments,
        parentId: input.parentId ?? null,
        createdAt,
      });
      tabRef.current?.post({ kind: 'outbox:added', message: pending });
      stopTyping(input.roomId);
      outbox.flush();
    },
    [stateRef, socketRef, tabRef, dispatch, outbox, refreshConversations, stopTyping],
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
      await outbox.add(session.userId, {
        clientId,
        roomId: found.roomId,
        content: found.content,
        attachments: found.attachments.map((a) => a.id),
        attachmentObjects: found.attachments,
        parentId: found.parentId,
        createdAt: found.createdAt,
      });
      outbox.flush();
    },
    [stateRef, dispatch, outbox],
  );

  // ------------------------------------------------------------ rooms
  const joinRoom = useCallback(
    async (roomId: string) => {
      const socket = socketRef.current;
      if (!socket) return;
      await emitWithAck(socket, 'join', { roomId });
    },
    [socketRef],
  );

  const leaveRoom = useCallback(
    (roomId: string) => {
      socketRef.current?.emit('leave', { roomId });
    },
    [socketRef],
  );

  const markAsRead = useCallback(
    (roomId: string) => {
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
    },
    [stateRef, socketRef, tabRef, dispatch],
  );

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
    [dispatch, joinRoom, loadHistory],
  );

  // ------------------------------------------------------------ requests with an ack
  const request = useCallback(
    <T extends object>(event: string, payload: unknown): Promise<Ack<T>> => {
      const socket = socketRef.current;
      if (!socket) return Promise.resolve({ ok: false, error: { code: 'offline', message: 'Not connected' } });
      return emitWithAck<T>(socket, event, payload);
    },
    [socketRef],
  );

  const editMessage = useCallback(
    async (messageId: string, content: string) => {
      const ack = await request<{ message: ChatMessage }>('message:edit', { messageId, content: sanitizeContent(content) });
      if (ack.ok && ack.message) dispatch({ type: 'message/updated', message: ack.message });
      return ack;
    },
    [request, dispatch],
  );

  const deleteMessage = useCallback(
    async (messageId: string) => {
      const ack = await request<object>('message:delete', { messageId });
      if (ack.ok) {
        for (const [roomId, list] of Object.entries(stateRef.current.messages)) {
          if (list.some((m) => m.id === messageId)) dispatch({ type: 'message/deleted', roomId, messageId });
        }
      }
      return ack;
    },
    [request, stateRef, dispatch],
  );

  const reactToMessage = useCallback(
    async (messageId: string, emoji: string) => {
      const ack = await request<{ reactions: Record<string, string[]> }>('message:react', { messageId, emoji });
      if (ack.ok) {
        for (const [roomId, list] of Object.entries(stateRef.current.messages)) {
          if (list.some((m) => m.id === messageId))
            dispatch({ type: 'message/reaction', roomId, messageId, reactions: ack.reactions ?? {} });
        }
      }
      return ack;
    },
    [request, stateRef, dispatch],
  );

  const searchUsers = useCallback(
    async (query: string) => {
      const ack = await request<{ users: DirectoryUser[] }>('users:search', { query });
      return ack.ok ? ack.users ?? [] : [];
    },
    [request],
  );

  const createConversation = useCallback(
    async (input: { type: 'direct' | 'group' | 'channel'; participantIds: string[]; name?: string }) => {
      const ack = await request<{ conversation: Conversation }>('conversation:create', input);
      if (ack.ok && ack.conversation) dispatch({ type: 'conversation/upsert', conversation: ack.conversation });
      return ack;
    },
    [request, dispatch],
  );

  // ------------------------------------------------------------ support
  const startSupport = useCallback(
    async (input: SupportStartInput) => {
      const pageUrl = input.pageUrl ?? currentPage();
      const ack = await request<SupportStartResult>('support:start', pageUrl ? { ...input, pageUrl } : input);
      if (ack.ok && ack.conversation) {
        dispatch({ type: 'conversation/upsert', conversation: ack.conversation });
        if (ack.status === 'queued') dispatch({ type: 'support/queued', roomId: ack.conversation.id, position: ack.position ?? null });
        else dispatch({ type: 'support/assigned', roomId: ack.conversation.id, agent: ack.agent ?? null });
      }
      return ack;
    },
    [request, dispatch],
  );

  const endSupport = useCallback(
    async (roomId: string) => {
      const ack = await request<object>('support:end', { roomId });
      if (ack.ok) dispatch({ type: 'support/ended', roomId });
      return ack;
    },
    [request, dispatch],
  );

  const rateSupport = useCallback(
    (roomId: string, rating: number, comment?: string) => request<object>('support:rate', { roomId, rating, comment }),
    [request],
  );

  const requestTranscript = useCallback(
    (roomId: string, email?: string) => request<object>('support:transcript', email ? { roomId, email } : { roomId }),
    [request],
  );

  const setAgentStatus = useCallback((available: boolean) => request<object>('agent:status', { available }), [request]);

  // ------------------------------------------------------------ uploads and drafts
  const upload = useCallback(
    (file: File, onProgress?: (f: number) => void) => {
      const s = stateRef.current.session;
      const bearer = token ?? s?.guestToken ?? null;
      return uploadAttachment(url, bearer, file, onProgress);
    },
    [url, token, stateRef],
  );

  const getDraft = useCallback(
    (roomId: string) => {
      const owner = stateRef.current.session?.userId;
      return owner ? loadDraft(owner, roomId) : '';
    },
    [stateRef],
  );

  const setDraft = useCallback(
    (roomId: string, text: string) => {
      const owner = stateRef.current.session?.userId;
      if (!owner) return;
      saveDraft(owner, roomId, text);
      tabRef.current?.post({ kind: 'draft', roomId, text });
    },
    [stateRef, tabRef],
  );

  return useMemo(
    () => ({
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
      request,
    }),
    [
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
      request,
    ],
  );
}
