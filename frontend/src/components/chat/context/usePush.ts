// Web Push for the provider (lib/web-push.ts does the steps): one
// subscription attempt at a time, the automatic one once per user and mount
// when notifications were allowed earlier, the unsubscription on sign-out,
// and a new subscription when the service worker reports that the push
// service replaced the old one.
import { useCallback, useEffect, useRef, useState, type MutableRefObject } from 'react';
import type { Socket } from 'socket.io-client';
import type { Ack, Session } from '@/lib/chat-types';
import { emitWithAck } from '@/lib/socket-client';
import {
  browserServiceWorker,
  notificationPermission,
  subscribeToPush,
  unsubscribeFromPush,
  type PushResult,
  type PushStatus,
} from '@/lib/web-push';
import { isGuestSession } from './session';

export interface PushDeps {
  url: string;
  /** The provider is connecting at all. */
  enabled: boolean;
  /** `push` prop: Web Push wanted. */
  push: boolean;
  /** `notifications` prop: browser notifications wanted. */
  notifications: boolean;
  serviceWorkerUrl: string;
  socketRef: MutableRefObject<Socket | null>;
  /** The current session (read when a subscription starts). */
  sessionRef: MutableRefObject<Session | null>;
}

export interface Push {
  pushStatus: PushStatus;
  enablePush: () => Promise<PushResult>;
  disablePush: () => Promise<boolean>;
  /** After a session arrived: subscribes when allowed earlier, once per user. */
  subscribeIfAllowed: (session: Session) => void;
}

export function usePush({ url, enabled, push, notifications, serviceWorkerUrl, socketRef, sessionRef }: PushDeps): Push {
  const [pushStatus, setPushStatus] = useState<PushStatus>('idle');
  const settings = useRef({ enabled: push, swUrl: serviceWorkerUrl, notifications });
  settings.current = { enabled: push, swUrl: serviceWorkerUrl, notifications };
  /** The user this provider last subscribed push for (once per user and mount). */
  const triedFor = useRef<string | null>(null);
  const running = useRef<Promise<PushResult> | null>(null);

  const emit = useCallback(
    (event: string, payload: unknown): Promise<Ack<object>> => {
      const socket = socketRef.current;
      if (!socket) return Promise.resolve({ ok: false, error: { code: 'offline', message: 'Not connected' } });
      return emitWithAck<object>(socket, event, payload);
    },
    [socketRef],
  );

  const enablePush = useCallback((): Promise<PushResult> => {
    // One attempt at a time; a second caller shares the running one.
    if (running.current) return running.current;
    const session = sessionRef.current;
    const run = (async () => {
      setPushStatus('subscribing');
      const result = await subscribeToPush({
        baseUrl: url,
        isGuest: isGuestSession(session),
        permission: notificationPermission(),
        serviceWorker: settings.current.enabled ? browserServiceWorker() : null,
        fetch: (input, init) => fetch(input, init),
        emit,
        serviceWorkerUrl: settings.current.swUrl,
      });
      setPushStatus(result.status);
      if (result.status === 'failed' && typeof console !== 'undefined') {
        console.info(`seitech-chat: Web Push not enabled: ${result.message ?? 'unknown reason'}`);
      }
      return result;
    })();
    running.current = run;
    void run.finally(() => {
      if (running.current === run) running.current = null;
    });
    return run;
  }, [url, emit, sessionRef]);
  const enablePushRef = useRef(enablePush);
  enablePushRef.current = enablePush;

  const disablePush = useCallback(async (): Promise<boolean> => {
    // A subscription on its way would come back after the unsubscription.
    if (running.current) await running.current;
    const dropped = await unsubscribeFromPush(browserServiceWorker(), { emit });
    setPushStatus('idle');
    return dropped;
  }, [emit]);

  const subscribeIfAllowed = useCallback((s: Session) => {
    // Notifications allowed earlier: (re)subscribe this browser for this
    // user, once per user (the gateway moves an endpoint to whoever
    // subscribed it last).
    if (
      settings.current.enabled &&
      settings.current.notifications &&
      !isGuestSession(s) &&
      triedFor.current !== s.userId &&
      notificationPermission() === 'granted'
    ) {
      triedFor.current = s.userId;
      void enablePushRef.current();
    }
  }, []);

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

  return { pushStatus, enablePush, disablePush, subscribeIfAllowed };
}
