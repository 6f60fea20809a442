// Plain helpers of the chat provider (no React): the session remembered per
// token in localStorage (so a reload shows the user's queued messages before
// the socket is up), who counts as a guest, how a queued message shows, and
// the browser notification for a message that arrives while the tab is hidden.
import type { ChatMessage, Session, UiMessage } from '@/lib/chat-types';
import type { OutboxItem } from '@/lib/offline-queue';

const SESSION_KEY = 'seitech-chat:session:';

/** The storage key part for a token (its tail: tokens are long). */
export function tokenKey(token: string | null | undefined): string {
  const t = token ?? 'anonymous';
  return t.length > 48 ? t.slice(-48) : t;
}

export function rememberedSession(token: string | null | undefined): Session | null {
  if (!token || typeof localStorage === 'undefined') return null;
  try {
    const raw = localStorage.getItem(SESSION_KEY + tokenKey(token));
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function rememberSession(token: string | null | undefined, session: Session): void {
  try {
    localStorage.setItem(SESSION_KEY + tokenKey(token), JSON.stringify(session));
  } catch {
    /* storage disabled */
  }
}

/** Guests (public visitors) get no push notifications. */
export function isGuestSession(s: Session | null | undefined): boolean {
  return !s || s.role === 'public' || !!s.guestToken || s.userId.startsWith('guest_');
}

/** A message still in the outbox, shown as pending. */
export function outboxToUi(item: OutboxItem, session: Session | null): UiMessage {
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

/** False only when the browser says it is offline. */
export function browserOnline(): boolean {
  return typeof navigator === 'undefined' || navigator.onLine !== false;
}

/** A browser notification for someone else's message while the tab is hidden (when allowed). */
export function notifyHidden(m: ChatMessage, me: string | undefined): void {
  if (
    m.authorId !== me &&
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
}
