// The provider's outbox: every message goes to the IndexedDB queue
// (lib/offline-queue.ts) first and leaves it only when the gateway acks it.
// This hook sends the queue in order over the socket, retries with a bounded
// backoff while something is left (rate limit, lost ack, another tab holding
// the lock) and tells the other tabs when the queue changed.
import { useCallback, useMemo, useRef, type Dispatch, type MutableRefObject } from 'react';
import type { Socket } from 'socket.io-client';
import type { ChatAction } from '@/lib/chat-store';
import type { ChatMessage, Session } from '@/lib/chat-types';
import { OfflineQueue, type OutboxItem, type SendResult } from '@/lib/offline-queue';
import { emitWithAck, isTransient } from '@/lib/socket-client';
import type { TabSync } from '@/lib/tab-sync';
import { browserOnline, outboxToUi } from './session';

const RETRY_MAX_MS = 30000;

type QueueInput = Parameters<OfflineQueue['add']>[0];

export interface Outbox {
  /** The queue of this user (a new one when the user changed). */
  queueFor: (owner: string) => OfflineQueue;
  /** Shows the user's queued messages as pending (after a reload). */
  showQueued: (owner: Session) => Promise<void>;
  /** Queues a message of this user (sending is `flush`'s job). */
  add: (owner: string, item: QueueInput) => Promise<void>;
  /** Sends what is queued, now (when connected). Never throws. */
  flush: () => void;
  /** Cancels a pending retry (the socket is going away). */
  stop: () => void;
}

export interface OutboxDeps {
  socketRef: MutableRefObject<Socket | null>;
  tabRef: MutableRefObject<TabSync | null>;
  dispatch: Dispatch<ChatAction>;
}

export function useOutbox({ socketRef, tabRef, dispatch }: OutboxDeps): Outbox {
  const queueRef = useRef<OfflineQueue | null>(null);
  const retryTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const retryDelay = useRef(1000);
  const flushRef = useRef<() => void>(() => undefined);

  const queueFor = useCallback((owner: string): OfflineQueue => {
    if (!queueRef.current || queueRef.current.owner !== owner) queueRef.current = new OfflineQueue(owner);
    return queueRef.current;
  }, []);

  const showQueued = useCallback(
    async (session: Session) => {
      for (const item of await queueFor(session.userId).list()) {
        if (item.roomId) dispatch({ type: 'message/pending', message: outboxToUi(item, session) });
      }
    },
    [queueFor, dispatch],
  );

  const sendOne = useCallback(
    async (item: OutboxItem): Promise<SendResult> => {
      const socket = socketRef.current;
      if (!socket || !socket.connected || !browserOnline()) return 'retry';
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
        return 'sent';
      }
      if (isTransient(ack.error.code)) return 'retry';
      dispatch({ type: 'message/failed', clientId: item.clientId, error: ack.error.message || ack.error.code });
      return 'drop';
    },
    [socketRef, dispatch],
  );

  const flushNow = useCallback(async () => {
    const queue = queueRef.current;
    const socket = socketRef.current;
    if (!queue || !socket || !socket.connected || !browserOnline()) return;
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
  }, [socketRef, tabRef, sendOne]);
  flushRef.current = () => {
    void flushNow();
  };

  const flush = useCallback(() => flushRef.current(), []);

  const add = useCallback(
    async (owner: string, item: QueueInput) => {
      await queueFor(owner).add(item);
    },
    [queueFor],
  );

  const stop = useCallback(() => {
    if (retryTimer.current) clearTimeout(retryTimer.current);
  }, []);

  return useMemo(() => ({ queueFor, showQueued, add, flush, stop }), [queueFor, showQueued, add, flush, stop]);
}
