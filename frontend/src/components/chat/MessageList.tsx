'use client';

/**
 * The messages of one room: history paging, day grouping, read ticks,
 * reactions, edit / delete / reply, and the typing line.
 */
import React, { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useChat } from './ChatContext';
import { isReadByOthers, typingUserIds } from '@/lib/chat-store';
import type { Conversation, UiMessage } from '@/lib/chat-types';
import { QUICK_EMOJIS } from './emojis';
import { AttachmentView, MessageContent, formatTime } from './MessageParts';

export interface MessageListProps {
  roomId: string;
  conversation?: Conversation;
  onReply?: (m: UiMessage) => void;
  allowActions?: boolean;
}

export function MessageList({ roomId, conversation, onReply, allowActions = true }: MessageListProps) {
  const chat = useChat();
  const { state } = chat;
  const me = state.session?.userId;
  const roomMessages = state.messages[roomId];
  const messages = useMemo(() => roomMessages ?? [], [roomMessages]);
  const hasMore = state.hasMore[roomId] ?? false;
  const scroller = useRef<HTMLDivElement>(null);
  const prevHeight = useRef<number | null>(null);
  const stickToBottom = useRef(true);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [editing, setEditing] = useState<{ id: string; text: string } | null>(null);
  const [reactFor, setReactFor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  const olderRef = useRef(false);
  const loadOlder = useCallback(async () => {
    if (olderRef.current || !hasMore) return;
    olderRef.current = true;
    setLoadingOlder(true);
    prevHeight.current = scroller.current?.scrollHeight ?? null;
    try {
      await chat.loadOlder(roomId);
    } finally {
      olderRef.current = false;
      setLoadingOlder(false);
    }
  }, [chat, roomId, hasMore]);

  // Keep the view where the reader was: at the bottom for new messages, at
  // the same message when older ones are prepended.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (prevHeight.current !== null) {
      el.scrollTop = el.scrollHeight - prevHeight.current;
      prevHeight.current = null;
    } else if (stickToBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [messages]);

  // The list also shrinks under it (the end-of-chat rating panel, the
  // keyboard on a phone): a reader at the bottom stays at the bottom, so the
  // last message is never hidden under what appeared.
  useEffect(() => {
    const el = scroller.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(() => {
      if (stickToBottom.current) el.scrollTop = el.scrollHeight;
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (el.scrollTop < 40 && hasMore) void loadOlder();
  };

  // Mark read while the room is on screen and the tab visible.
  const newestId = messages.length ? messages[messages.length - 1].id : null;
  useEffect(() => {
    if (!newestId) return;
    const mark = () => {
      if (document.visibilityState === 'visible') chat.markAsRead(roomId);
    };
    mark();
    document.addEventListener('visibilitychange', mark);
    return () => document.removeEventListener('visibilitychange', mark);
  }, [newestId, roomId, chat]);

  const names = useMemo(() => {
    const map: Record<string, string> = {};
    for (const p of conversation?.participants ?? []) map[p.id] = p.name;
    for (const m of messages) if (m.authorName) map[m.authorId] = m.authorName;
    return map;
  }, [conversation, messages]);

  const typing = typingUserIds(state, roomId, now).filter((u) => u !== me);
  const byId = useMemo(() => {
    const map: Record<string, UiMessage> = {};
    for (const m of messages) map[m.id] = m;
    return map;
  }, [messages]);

  const saveEdit = async () => {
    if (!editing) return;
    const ack = await chat.editMessage(editing.id, editing.text);
    if (!ack.ok) setError(ack.error.message);
    setEditing(null);
  };

  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <div
        ref={scroller}
        onScroll={onScroll}
        className="min-h-0 flex-1 space-y-2 overflow-y-auto px-3 py-2"
        data-testid="message-scroller"
      >
        {hasMore && (
          <div className="text-center">
            <button
              type="button"
              onClick={() => void loadOlder()}
              className="rounded-full px-3 py-1 text-xs text-chat-primary hover:underline focus:outline-none focus-visible:ring-2 focus-visible:ring-chat-primary"
              disabled={loadingOlder}
            >
              {loadingOlder ? 'Loading…' : 'Load older messages'}
            </button>
          </div>
        )}
        <ol role="log" aria-live="polite" aria-relevant="additions" aria-label="Messages" className="space-y-2">
          {messages.map((m) => {
            const mine = m.authorId === me;
            if (m.type === 'system') {
              return (
                <li key={m.id} className="text-center text-xs text-chat-muted" data-testid="system-message">
                  {m.content}
                </li>
              );
            }
            const read = mine && isReadByOthers(state, m);
            const parent = m.parentId ? byId[m.parentId] : undefined;
            return (
              <li
                key={m.clientId && m.status !== 'sent' ? `c:${m.clientId}` : m.id}
                className={`group flex ${mine ? 'justify-end' : 'justify-start'}`}
                data-testid="message"
                data-status={m.status}
                data-mine={mine ? 'true' : 'false'}
                data-message-id={m.status === 'sent' ? m.id : undefined}
              >
                <div className={`max-w-[85%] sm:max-w-[75%] ${mine ? 'items-end' : 'items-start'} flex flex-col`}>
                  {!mine && <span className="mb-0.5 text-xs font-medium text-chat-muted">{m.authorName || names[m.authorId] || 'Unknown'}</span>}
                  <div
                    className={`rounded-2xl px-3 py-2 text-sm shadow-sm ${
                      mine ? 'bg-chat-primary text-chat-primary-contrast' : 'bg-chat-surface text-chat-text border border-chat-border'
                    } ${m.status === 'failed' ? 'ring-2 ring-chat-error' : ''}`}
                  >
                    {parent && (
                      <div className="mb-1 border-l-2 border-current pl-2 text-xs opacity-80" data-testid="reply-context">
                        {parent.authorName}: {parent.content.slice(0, 80)}
                      </div>
                    )}
                    {editing?.id === m.id ? (
                      <form
                        onSubmit={(e) => {
                          e.preventDefault();
                          void saveEdit();
                        }}
                        className="flex flex-col gap-1"
                      >
                        <label className="sr-only" htmlFor={`edit-${m.id}`}>
                          Edit message
                        </label>
                        <textarea
                          id={`edit-${m.id}`}
                          value={editing.text}
                          onChange={(e) => setEditing({ id: m.id, text: e.target.value })}
                          onKeyDown={(e) => {
                            if (e.key === 'Escape') setEditing(null);
                          }}
                          className="rounded border border-chat-border p-1 text-chat-text"
                          autoFocus
                        />
                        <div className="flex gap-2 text-xs">
                          <button type="submit" className="underline">
                            Save
                          </button>
                          <button type="button" className="underline" onClick={() => setEditing(null)}>
                            Cancel
                          </button>
                        </div>
                      </form>
                    ) : (
                      m.content && <MessageContent text={m.content} />
                    )}
                    {m.attachments.map((a) => (
                      <AttachmentView key={a.id} att={a} baseUrl={chat.url} />
                    ))}
                  </div>
                  {m.reactions && Object.keys(m.reactions).length > 0 && (
                    <div className="mt-0.5 flex flex-wrap gap-1" data-testid="reactions">
                      {Object.entries(m.reactions)
                        .filter(([, users]) => users.length)
                        .map(([emoji, users]) => (
                          <button
                            key={emoji}
                            type="button"
                            onClick={() => void chat.reactToMessage(m.id, emoji)}
                            className={`rounded-full border px-1.5 text-xs ${me && users.includes(me) ? 'border-chat-primary' : 'border-chat-border'}`}
                            aria-label={`${emoji} ${users.length}, toggle reaction`}
                          >
                            {emoji} {users.length}
                          </button>
                        ))}
                    </div>
                  )}
                  <div className="mt-0.5 flex items-center gap-2 text-[11px] text-chat-muted">
                    <time dateTime={m.createdAt}>{formatTime(m.createdAt)}</time>
                    {m.editedAt && <span>(edited)</span>}
                    {mine && m.status === 'pending' && (
                      <span data-testid="tick" aria-label="Sending">
                        🕓 Sending…
                      </span>
                    )}
                    {mine && m.status === 'failed' && (
                      <span className="text-chat-error">
                        Not sent{m.error ? `: ${m.error}` : ''}{' '}
                        <button type="button" className="underline" onClick={() => m.clientId && void chat.retryMessage(m.clientId)}>
                          Retry
                        </button>
                      </span>
                    )}
                    {mine && m.status === 'sent' && (
                      <span data-testid="tick" data-read={read ? 'true' : 'false'} aria-label={read ? 'Read' : 'Sent'} title={read ? 'Read' : 'Sent'}>
                        {read ? '✓✓' : '✓'}
                      </span>
                    )}
                    {allowActions && m.status === 'sent' && (
                      <span className="flex gap-1 opacity-100 sm:opacity-0 sm:group-hover:opacity-100 sm:group-focus-within:opacity-100">
                        {onReply && (
                          <button type="button" className="underline" onClick={() => onReply(m)} aria-label="Reply to message">
                            Reply
                          </button>
                        )}
                        <button
                          type="button"
                          className="underline"
                          onClick={() => setReactFor(reactFor === m.id ? null : m.id)}
                          aria-expanded={reactFor === m.id}
                          aria-label="React to message"
                        >
                          React
                        </button>
                        {mine && (
                          <>
                            <button
                              type="button"
                              className="underline"
                              onClick={() => setEditing({ id: m.id, text: m.content })}
                              aria-label="Edit message"
                            >
                              Edit
                            </button>
                            <button
                              type="button"
                              className="underline"
                              onClick={async () => {
                                if (typeof window !== 'undefined' && !window.confirm('Delete this message?')) return;
                                const ack = await chat.deleteMessage(m.id);
                                if (!ack.ok) setError(ack.error.message);
                              }}
                              aria-label="Delete message"
                            >
                              Delete
                            </button>
                          </>
                        )}
                      </span>
                    )}
                  </div>
                  {reactFor === m.id && (
                    <div role="group" aria-label="Choose a reaction" className="mt-1 flex gap-1 rounded-full border border-chat-border bg-chat-bg px-2 py-1">
                      {QUICK_EMOJIS.map((e) => (
                        <button
                          key={e}
                          type="button"
                          aria-label={`React with ${e}`}
                          onClick={async () => {
                            setReactFor(null);
                            const ack = await chat.reactToMessage(m.id, e);
                            if (!ack.ok) setError(ack.error.message);
                          }}
                        >
                          {e}
                        </button>
                      ))}
                    </div>
                  )}
                </div>
              </li>
            );
          })}
        </ol>
        {error && (
          <p role="alert" className="text-center text-xs text-chat-error">
            {error}
          </p>
        )}
      </div>
      <div className="min-h-[1.25rem] px-3 text-xs text-chat-muted" aria-live="polite" data-testid="typing-indicator">
        {typing.length > 0 && `${typing.map((u) => names[u] || 'Someone').join(', ')} ${typing.length > 1 ? 'are' : 'is'} typing…`}
      </div>
    </div>
  );
}
