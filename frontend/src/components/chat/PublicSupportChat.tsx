'use client';

// The public support widget: launcher, panel (minimise / maximise, first-visit
// auto-open), the guest's own ChatProvider with the guest token kept in
// localStorage, and the chat's phases. The pre-chat form, the ended view and
// the transcript button live in ./support/.
import React, { useCallback, useEffect, useId, useRef, useState } from 'react';
import { ChatProvider, useChat } from './ChatContext';
import { Composer, MessageList } from './ChatWindow';
import { compareIds } from '@/lib/chat-store';
import { ChatIcon, MaximiseIcon, MinimiseIcon, RestoreIcon } from './icons';
import type { QueryType, Session } from '@/lib/chat-types';
import { themeToCssVars, type ChatTheme } from '@/lib/chat-theme';
import { TOPIC_DEPARTMENT, widgetStatus, type StatusTone } from '@/lib/support-status';
import { DEFAULT_FAQS, type Faq } from './support/faqs';
import { EndedView } from './support/EndedView';
import { PreChatForm } from './support/PreChatForm';
import { TranscriptButton } from './support/TranscriptButton';

export const GUEST_TOKEN_KEY = 'seitech-chat:guest-token';
export const SUPPORT_KEY = 'seitech-chat:support';
export const VISITED_KEY = 'chat:visited';
export { DEFAULT_FAQS, type Faq } from './support/faqs';

interface StoredSupport {
  roomId: string;
  name: string;
  email: string;
}

function readStored(): { token: string | null; support: StoredSupport | null } {
  try {
    const token = localStorage.getItem(GUEST_TOKEN_KEY);
    const raw = localStorage.getItem(SUPPORT_KEY);
    return { token, support: raw ? (JSON.parse(raw) as StoredSupport) : null };
  } catch {
    return { token: null, support: null };
  }
}

export interface PublicSupportChatProps {
  /** Gateway URL (default NEXT_PUBLIC_CHAT_URL or http://localhost:3001). */
  url?: string;
  /**
   * On a first visit, after this delay (0 or less: never): on a wide screen
   * the panel opens by itself, once; on a phone (narrower than 640 px, where
   * the panel would cover the whole page) the launcher shows a "1" badge
   * instead, and the visitor opens it when they want to.
   */
  autoOpenDelayMs?: number;
  faqs?: Faq[];
  theme?: Partial<ChatTheme>;
  title?: string;
}

export function PublicSupportChat({ url, autoOpenDelayMs = 3000, faqs = DEFAULT_FAQS, theme, title = 'Support Chat' }: PublicSupportChatProps) {
  const [loaded, setLoaded] = useState(false);
  const [token, setToken] = useState<string | null>(null);
  const [support, setSupport] = useState<StoredSupport | null>(null);
  const [open, setOpen] = useState(false);
  const [nudge, setNudge] = useState(false);

  useEffect(() => {
    const s = readStored();
    setToken(s.token);
    setSupport(s.support);
    setLoaded(true);
  }, []);

  // Auto-open once on a first visit.
  useEffect(() => {
    if (autoOpenDelayMs <= 0) return;
    let visited = true;
    try {
      visited = !!localStorage.getItem(VISITED_KEY);
      if (!visited) localStorage.setItem(VISITED_KEY, 'true');
    } catch {
      /* storage disabled: never auto-open */
    }
    if (visited) return;
    const narrow = typeof window !== 'undefined' && typeof window.matchMedia === 'function' && window.matchMedia('(max-width: 639px)').matches;
    const t = setTimeout(() => (narrow ? setNudge(true) : setOpen(true)), autoOpenDelayMs);
    return () => clearTimeout(t);
  }, [autoOpenDelayMs]);

  const onSession = useCallback((s: Session) => {
    if (s.guestToken) {
      try {
        localStorage.setItem(GUEST_TOKEN_KEY, s.guestToken);
      } catch {
        /* the chat just won't survive a reload */
      }
    }
  }, []);

  const onAuthFailed = useCallback(() => {
    // The stored guest token is no longer accepted: start over as a new guest.
    try {
      localStorage.removeItem(GUEST_TOKEN_KEY);
      localStorage.removeItem(SUPPORT_KEY);
    } catch {
      /* ignore */
    }
    setSupport(null);
    setToken(null);
  }, []);

  const enabled = loaded && (open || !!support);
  const style = theme ? (themeToCssVars(theme) as React.CSSProperties) : undefined;

  return (
    <div className="font-chat" style={style} data-testid="support-widget-root">
      <ChatProvider url={url} token={token} enabled={enabled} onSession={onSession} onAuthFailed={onAuthFailed}>
        <SupportWidget
          open={open}
          setOpen={(o) => {
            if (o) setNudge(false);
            setOpen(o);
          }}
          nudge={nudge}
          support={support}
          setSupport={(s) => {
            setSupport(s);
            try {
              if (s) localStorage.setItem(SUPPORT_KEY, JSON.stringify(s));
              else localStorage.removeItem(SUPPORT_KEY);
            } catch {
              /* ignore */
            }
          }}
          faqs={faqs}
          title={title}
        />
      </ChatProvider>
    </div>
  );
}

interface WidgetProps {
  open: boolean;
  /** A first visit on a phone: the launcher invites with a badge instead of opening. */
  nudge: boolean;
  setOpen: (o: boolean) => void;
  support: StoredSupport | null;
  setSupport: (s: StoredSupport | null) => void;
  faqs: Faq[];
  title: string;
}

type Phase = 'pre-chat' | 'connecting' | 'queued' | 'active' | 'ended';

const DOT: Record<StatusTone, string> = {
  online: 'bg-green-300',
  waiting: 'bg-amber-300',
  away: 'bg-gray-300',
  ended: 'bg-gray-300',
  offline: 'bg-yellow-300',
};

function SupportWidget({ open, setOpen, nudge, support, setSupport, faqs, title }: WidgetProps) {
  const chat = useChat();
  const { state, openRoom } = chat;
  const roomId = support?.roomId ?? null;
  const [maximised, setMaximised] = useState(false);
  const [starting, setStarting] = useState(false);
  const launcher = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);
  const wasOpen = useRef(open);
  const titleId = useId();
  const [seenId, setSeenId] = useState<string | null>(null);
  // The pre-chat topic lives here: the header speaks for its department.
  const [topic, setTopic] = useState<QueryType>('course_inquiry');

  // Open the stored support room once signed in (after a reload too).
  const sessionId = state.session?.userId;
  useEffect(() => {
    if (roomId && sessionId) openRoom(roomId);
  }, [roomId, sessionId, openRoom]);

  const conv = roomId ? state.conversations[roomId] : undefined;
  const live = roomId ? state.support[roomId] : undefined;
  let phase: Phase;
  if (!roomId) phase = starting ? 'connecting' : 'pre-chat';
  else if (live) phase = live.state;
  else if (conv?.status === 'queued') phase = 'queued';
  else if (conv?.status === 'ended' || conv?.status === 'closed') phase = 'ended';
  else if (conv) phase = 'active';
  else phase = 'connecting';

  // Unread badge: messages from others that arrived while the panel was closed.
  const messages = roomId ? state.messages[roomId] ?? [] : [];
  const me = state.session?.userId;
  const newestOther = [...messages].reverse().find((m) => m.status === 'sent' && m.authorId !== me);
  useEffect(() => {
    if (open && newestOther) setSeenId(newestOther.id);
  }, [open, newestOther]);
  const unseen = open
    ? 0
    : messages.filter((m) => m.status === 'sent' && m.authorId !== me && (!seenId || compareIds(m.id, seenId) > 0)).length;
  const unread = unseen > 0 ? unseen : nudge && !roomId ? 1 : 0;

  // Focus: into the panel when it opens, back to the launcher when it closes.
  useEffect(() => {
    if (open && !wasOpen.current) {
      const root = panel.current;
      const first =
        root?.querySelector<HTMLElement>('[data-autofocus]') ??
        root?.querySelector<HTMLElement>('textarea') ??
        root?.querySelector<HTMLElement>('button');
      first?.focus();
    } else if (!open && wasOpen.current) {
      launcher.current?.focus();
    }
    wasOpen.current = open;
  }, [open]);

  if (!open) {
    return (
      <button
        ref={launcher}
        type="button"
        onClick={() => setOpen(true)}
        className="fixed bottom-4 right-4 z-50 flex h-14 w-14 items-center justify-center rounded-full bg-chat-primary text-2xl text-chat-primary-contrast shadow-2xl transition-transform hover:scale-105 focus:outline-none focus-visible:ring-4 focus-visible:ring-chat-primary/40 sm:bottom-6 sm:right-6 sm:h-16 sm:w-16"
        aria-label={
          unseen > 0 ? `Open support chat, ${unseen} unread` : unread > 0 ? 'Open support chat, 1 new: we are here to help' : 'Open support chat'
        }
        data-testid="chat-launcher"
      >
        <ChatIcon />
        {unread > 0 && (
          <span
            className="absolute -right-1 -top-1 flex h-6 min-w-[1.5rem] items-center justify-center rounded-full border-2 border-white bg-chat-error px-1 text-xs font-bold text-white"
            data-testid="unread-count"
            aria-hidden="true"
          >
            {unread > 9 ? '9+' : unread}
          </span>
        )}
      </button>
    );
  }

  const queuedAt = live && live.state === 'queued' ? live.position : null;
  const status = widgetStatus({
    connection: state.connection,
    phase,
    department: conv?.support?.department ?? (roomId ? null : TOPIC_DEPARTMENT[topic]),
    agentsByDepartment: state.agentsByDepartment,
    agentsOnline: state.agentsOnline,
    position: queuedAt,
    agentName: live && live.state === 'active' ? live.agent?.name : conv?.participants.find((p) => p.role === 'support-agent')?.name,
  });

  return (
    <div
      ref={panel}
      role="dialog"
      aria-modal="false"
      aria-labelledby={titleId}
      data-testid="support-panel"
      data-phase={phase}
      onKeyDown={(e) => {
        if (e.key === 'Escape') setOpen(false);
      }}
      className={`fixed inset-0 z-[100] flex flex-col overflow-hidden bg-chat-bg text-chat-text shadow-2xl motion-safe:animate-chat-pop sm:inset-auto sm:bottom-6 sm:right-6 sm:rounded-chat ${
        maximised ? 'sm:h-[calc(100vh-3rem)] sm:w-[min(48rem,calc(100vw-3rem))]' : 'sm:h-[min(600px,calc(100vh-3rem))] sm:w-96'
      }`}
    >
      <div className="flex items-center gap-2 bg-chat-primary px-4 py-3 text-chat-primary-contrast">
        <div className="min-w-0 flex-1">
          <h2 id={titleId} className="font-chat-heading text-base font-semibold">
            {title}
          </h2>
          <p className="flex items-center gap-1 text-xs opacity-90" data-testid="availability" data-tone={status.tone} role="status">
            <span className={`inline-block h-2 w-2 shrink-0 rounded-full ${DOT[status.tone]}`} aria-hidden="true" />
            {status.text}
          </p>
        </div>
        <button
          type="button"
          onClick={() => setMaximised((m) => !m)}
          className="hidden rounded p-1.5 hover:bg-white/20 focus:outline-none focus-visible:ring-2 focus-visible:ring-white sm:block"
          aria-label={maximised ? 'Restore chat size' : 'Maximise chat'}
        >
          {maximised ? <RestoreIcon /> : <MaximiseIcon />}
        </button>
        <button
          type="button"
          onClick={() => setOpen(false)}
          className="rounded p-1.5 hover:bg-white/20 focus:outline-none focus-visible:ring-2 focus-visible:ring-white"
          aria-label="Minimise chat"
        >
          <MinimiseIcon />
        </button>
      </div>

      {(phase === 'pre-chat' || (phase === 'connecting' && !roomId)) && (
        <PreChatForm
          faqs={faqs}
          queryType={topic}
          setQueryType={setTopic}
          busy={phase === 'connecting'}
          onSubmit={async (form) => {
            setStarting(true);
            try {
              const ack = await chat.startSupport(form);
              if (!ack.ok) return ack.error.message || 'Could not start the chat';
              setSupport({ roomId: ack.conversation.id, name: form.name, email: form.email });
              return null;
            } finally {
              setStarting(false);
            }
          }}
        />
      )}

      {roomId && phase === 'connecting' && (
        <p className="m-auto text-sm text-chat-muted" role="status">
          Connecting…
        </p>
      )}

      {roomId && (phase === 'queued' || phase === 'active' || phase === 'ended') && (
        <>
          <MessageList roomId={roomId} conversation={conv} allowActions={false} />
          {phase !== 'ended' ? (
            <>
              <Composer roomId={roomId} placeholder="Type your message…" />
              <div className="flex justify-between border-t border-chat-border px-3 py-1 text-xs">
                <TranscriptButton roomId={roomId} email={support?.email} />
                <button type="button" className="text-chat-muted underline" onClick={() => void chat.endSupport(roomId)}>
                  End chat
                </button>
              </div>
            </>
          ) : (
            <EndedView roomId={roomId} email={support?.email} onNew={() => setSupport(null)} />
          )}
        </>
      )}
    </div>
  );
}

export default PublicSupportChat;
