/* seitech-chat service worker: Web Push notifications.
 *
 * The gateway pushes `{ title, body, roomId, messageId, authorId, url }` (JSON)
 * for a new message to a user with no open chat connection. Each push shows
 * one notification (one per conversation: the tag replaces the previous one);
 * a click focuses an open chat window and opens the conversation there, or
 * opens the chat page. Nothing else is cached or intercepted.
 */

const CHAT_PATH = '/chat';
const OPEN_ROOM = 'seitech-chat:open-room';
const RESUBSCRIBE = 'seitech-chat:resubscribe';

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

function parsePayload(data) {
  if (!data) return {};
  try {
    const value = data.json();
    return value && typeof value === 'object' ? value : {};
  } catch {
    try {
      return { body: data.text() };
    } catch {
      return {};
    }
  }
}

function text(value, max) {
  return typeof value === 'string' ? value.slice(0, max) : '';
}

/** The chat page of this app for a room: the payload's URL when it is ours, else built from the scope. */
function chatUrlFor(payload) {
  const origin = self.location.origin;
  if (typeof payload.url === 'string') {
    try {
      const u = new URL(payload.url, origin);
      if (u.origin === origin) return u.href;
    } catch {
      /* not a URL */
    }
  }
  const u = new URL(CHAT_PATH, self.registration.scope || origin);
  if (typeof payload.roomId === 'string' && payload.roomId) u.searchParams.set('room', payload.roomId);
  return u.href;
}

self.addEventListener('push', (event) => {
  const payload = parsePayload(event.data);
  const title = text(payload.title, 200) || 'New message';
  const roomId = text(payload.roomId, 200);
  const options = {
    body: text(payload.body, 500),
    tag: roomId ? `seitech-chat:${roomId}` : 'seitech-chat',
    renotify: Boolean(roomId),
    icon: '/icon.svg',
    data: { roomId, messageId: text(payload.messageId, 200), url: chatUrlFor(payload) },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const target = typeof data.url === 'string' && data.url ? data.url : chatUrlFor(data);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const chat = windows.find((c) => new URL(c.url).pathname.startsWith(CHAT_PATH));
      if (chat) {
        const focused = await chat.focus();
        (focused || chat).postMessage({ type: OPEN_ROOM, roomId: data.roomId || null });
        return;
      }
      if (self.clients.openWindow) await self.clients.openWindow(target);
    })(),
  );
});

// The push service replaced the subscription: the open pages subscribe again
// (they hold the socket that tells the gateway).
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      for (const w of windows) w.postMessage({ type: RESUBSCRIBE });
    }),
  );
});
