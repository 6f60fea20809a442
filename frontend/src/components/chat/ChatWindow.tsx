'use client';

import React, { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useChat } from './ChatContext';
import { VisitorPanel } from './SupportConsole';
import { conversationTitle, isReadByOthers, typingUserIds } from '@/lib/chat-store';
import type { Attachment, Conversation, UiMessage } from '@/lib/chat-types';
import { attachmentHref } from '@/lib/uploads';
import { PaperclipIcon, SmileIcon } from './icons';
import { linkPreview, linkify, MAX_ATTACHMENTS, validateMessage, validateUpload } from '@/lib/validation';

export const QUICK_EMOJIS = ['👍', '❤️', '😂', '🎉', '😮', '🙏'];
export const PICKER_EMOJIS = ['😀', '😊', '😂', '😍', '🤔', '😢', '😮', '👍', '👏', '🙏', '🎉', '❤️', '🔥', '✅', '📚', '💡'];

function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function MessageContent({ text }: { text: string }) {
  const parts = useMemo(() => linkify(text), [text]);
  const firstLink = parts.find((p) => p.kind === 'link');
  const preview = firstLink?.href ? linkPreview(firstLink.href) : null;
  return (
    <>
      <p className="whitespace-pre-wrap break-words">
        {parts.map((p, i) =>
          p.kind === 'link' ? (
            <a key={i} href={p.href} target="_blank" rel="noopener noreferrer nofollow ugc" className="underline">
              {p.text}
            </a>
          ) : (
            <React.Fragment key={i}>{p.text}</React.Fragment>
          ),
        )}
      </p>
      {preview && firstLink?.href && (
        <a
          href={firstLink.href}
          target="_blank"
          rel="noopener noreferrer nofollow ugc"
          className="mt-1 block rounded-md border border-chat-border bg-chat-bg/80 px-2 py-1 text-xs text-chat-text"
          data-testid="link-preview"
        >
          <span className="block font-semibold">{preview.host}</span>
          <span className="block truncate text-chat-muted">{preview.path}</span>
        </a>
      )}
    </>
  );
}

function AttachmentView({ att, baseUrl }: { att: Attachment; baseUrl: string }) {
  const href = attachmentHref(baseUrl, att.url);
  const thumb = att.thumbnailUrl ? attachmentHref(baseUrl, att.thumbnailUrl) : null;
  const [src, setSrc] = useState(thumb ?? href);
  useEffect(() => setSrc(thumb ?? href), [thumb, href]);
  if (att.mimeType?.startsWith('image/')) {
    return (
      <a href={href} target="_blank" rel="noopener noreferrer" className="mt-1 block" data-testid="attachment">
        {/* The preview is the gateway's thumbnail when it made one, else the file. */}
        {/* eslint-disable-next-line @next/next/no-img-element */}
        <img
          src={src}
          alt={att.name}
          className="max-h-48 max-w-full rounded-md"
          loading="lazy"
          onError={() => {
            if (src !== href) setSrc(href);
          }}
        />
      </a>
    );
  }
  return (
    <a
      href={href}
      target="_blank"
      rel="noopener noreferrer"
      className="mt-1 flex items-center gap-2 rounded-md border border-chat-border bg-chat-bg px-2 py-1 text-xs text-chat-text"
      data-testid="attachment"
    >
      <span aria-hidden="true">📎</span>
      <span className="truncate">{att.name}</span>
      <span className="text-chat-muted">{formatBytes(att.size)}</span>
    </a>
  );
}

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

interface PendingUpload {
  key: string;
  name: string;
  progress: number;
  attachment?: Attachment;
  error?: string;
}

export interface ComposerProps {
  roomId: string;
  replyTo?: UiMessage | null;
  onCancelReply?: () => void;
  disabled?: boolean;
  placeholder?: string;
  /** Files dropped on the surrounding window. */
  droppedFiles?: File[] | null;
  onDroppedHandled?: () => void;
}

export function Composer({ roomId, replyTo, onCancelReply, disabled, placeholder, droppedFiles, onDroppedHandled }: ComposerProps) {
  const chat = useChat();
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [showEmoji, setShowEmoji] = useState(false);
  const [uploads, setUploads] = useState<PendingUpload[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);
  const textRef = useRef<HTMLTextAreaElement>(null);
  const idleTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const { getDraft, setDraft, draftVersion, startTyping, stopTyping } = chat;
  const sessionId = chat.session?.userId;

  // Drafts: restored per room, kept in step across tabs.
  useEffect(() => {
    setText(getDraft(roomId));
  }, [roomId, getDraft, draftVersion, sessionId]);

  useEffect(
    () => () => {
      if (idleTimer.current) clearTimeout(idleTimer.current);
    },
    [],
  );

  const addFiles = useCallback(
    (files: File[]) => {
      for (const file of files.slice(0, MAX_ATTACHMENTS)) {
        const key = `${file.name}-${file.size}-${Math.random().toString(36).slice(2)}`;
        const invalid = validateUpload(file);
        if (invalid) {
          setUploads((u) => [...u, { key, name: file.name, progress: 0, error: invalid }]);
          continue;
        }
        setUploads((u) => [...u, { key, name: file.name, progress: 0 }]);
        chat
          .upload(file, (p) => setUploads((u) => u.map((x) => (x.key === key ? { ...x, progress: p } : x))))
          .then((attachment) => setUploads((u) => u.map((x) => (x.key === key ? { ...x, progress: 1, attachment } : x))))
          .catch((e: Error) => setUploads((u) => u.map((x) => (x.key === key ? { ...x, error: e.message } : x))));
      }
    },
    [chat],
  );

  useEffect(() => {
    if (droppedFiles && droppedFiles.length) {
      addFiles(droppedFiles);
      onDroppedHandled?.();
    }
  }, [droppedFiles, addFiles, onDroppedHandled]);

  const ready = uploads.filter((u) => u.attachment).map((u) => u.attachment as Attachment);
  const busy = uploads.some((u) => !u.attachment && !u.error);

  const submit = async () => {
    const problem = validateMessage(text, ready.length);
    if (problem) {
      if (text.trim() || ready.length) setError(problem);
      return;
    }
    if (busy) {
      setError('Wait for the upload to finish');
      return;
    }
    setError(null);
    const content = text;
    setText('');
    setDraft(roomId, '');
    setUploads([]);
    onCancelReply?.();
    stopTyping(roomId);
    try {
      await chat.sendMessage({ roomId, content, attachments: ready, parentId: replyTo?.id ?? null });
    } catch (e) {
      setError((e as Error).message);
      setText(content);
    }
    textRef.current?.focus();
  };

  const onChange = (value: string) => {
    setText(value);
    setDraft(roomId, value);
    if (value.trim()) startTyping(roomId);
    if (idleTimer.current) clearTimeout(idleTimer.current);
    idleTimer.current = setTimeout(() => stopTyping(roomId), 3000);
  };

  const inputId = `composer-${roomId}`;
  return (
    <form
      className="border-t border-chat-border bg-chat-bg p-2"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {replyTo && (
        <div className="mb-1 flex items-center justify-between rounded bg-chat-surface px-2 py-1 text-xs text-chat-muted">
          <span className="truncate">
            Replying to {replyTo.authorName}: {replyTo.content.slice(0, 60)}
          </span>
          <button type="button" onClick={onCancelReply} aria-label="Cancel reply" className="ml-2">
            ✕
          </button>
        </div>
      )}
      {uploads.length > 0 && (
        <ul className="mb-1 space-y-1" aria-label="Attachments">
          {uploads.map((u) => (
            <li key={u.key} className="flex items-center gap-2 text-xs" data-testid="upload">
              <span className="truncate">{u.name}</span>
              {u.error ? (
                <span role="alert" className="text-chat-error">
                  {u.error}
                </span>
              ) : (
                <progress max={1} value={u.progress} aria-label={`Uploading ${u.name}`} className="h-1.5 w-20" />
              )}
              {u.attachment && <span className="text-chat-success">Ready</span>}
              <button
                type="button"
                aria-label={`Remove ${u.name}`}
                onClick={() => setUploads((all) => all.filter((x) => x.key !== u.key))}
              >
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="flex items-end gap-1">
        <input
          ref={fileInput}
          type="file"
          multiple
          className="sr-only"
          tabIndex={-1}
          aria-hidden="true"
          data-testid="file-input"
          onChange={(e) => {
            const files = Array.from(e.target.files ?? []);
            e.target.value = '';
            addFiles(files);
          }}
        />
        <button
          type="button"
          onClick={() => fileInput.current?.click()}
          className="rounded-full p-2 text-chat-muted hover:bg-chat-surface focus:outline-none focus-visible:ring-2 focus-visible:ring-chat-primary"
          aria-label="Attach a file"
          disabled={disabled}
        >
          <PaperclipIcon />
        </button>
        <div className="relative">
          <button
            type="button"
            onClick={() => setShowEmoji((s) => !s)}
            className="rounded-full p-2 text-chat-muted hover:bg-chat-surface focus:outline-none focus-visible:ring-2 focus-visible:ring-chat-primary"
            aria-label="Insert emoji"
            aria-expanded={showEmoji}
            disabled={disabled}
          >
            <SmileIcon />
          </button>
          {showEmoji && (
            <div
              role="group"
              aria-label="Emoji"
              className="absolute bottom-10 left-0 z-10 grid w-56 grid-cols-8 gap-1 rounded-lg border border-chat-border bg-chat-bg p-2 shadow-lg"
              onKeyDown={(e) => {
                if (e.key === 'Escape') {
                  setShowEmoji(false);
                  textRef.current?.focus();
                }
              }}
            >
              {PICKER_EMOJIS.map((e) => (
                <button
                  key={e}
                  type="button"
                  aria-label={`Insert ${e}`}
                  onClick={() => {
                    onChange(text + e);
                    setShowEmoji(false);
                    textRef.current?.focus();
                  }}
                >
                  {e}
                </button>
              ))}
            </div>
          )}
        </div>
        <label htmlFor={inputId} className="sr-only">
          Message
        </label>
        <textarea
          id={inputId}
          ref={textRef}
          rows={1}
          value={text}
          disabled={disabled}
          placeholder={placeholder ?? 'Type a message…'}
          onChange={(e) => onChange(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              void submit();
            }
          }}
          onBlur={() => stopTyping(roomId)}
          className="max-h-32 min-h-[2.5rem] flex-1 resize-none rounded-xl border border-chat-border bg-chat-bg px-3 py-2 text-sm text-chat-text focus:outline-none focus:ring-2 focus:ring-chat-primary"
        />
        <button
          type="submit"
          disabled={disabled}
          className="rounded-xl bg-chat-primary px-3 py-2 text-sm font-medium text-chat-primary-contrast disabled:opacity-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-offset-2 focus-visible:ring-chat-primary"
        >
          Send
        </button>
      </div>
      {error && (
        <p role="alert" className="mt-1 text-xs text-chat-error">
          {error}
        </p>
      )}
    </form>
  );
}

export interface ChatWindowProps {
  roomId: string;
  onBack?: () => void;
}

export function ChatWindow({ roomId, onBack }: ChatWindowProps) {
  const chat = useChat();
  const { state } = chat;
  const conversation = state.conversations[roomId];
  const me = state.session?.userId;
  const [replyTo, setReplyTo] = useState<UiMessage | null>(null);
  const [dragging, setDragging] = useState(false);
  const [dropped, setDropped] = useState<File[] | null>(null);
  const title = conversation ? conversationTitle(conversation, me) : 'Conversation';
  const others = conversation?.participants.filter((p) => p.id !== me) ?? [];
  const presence =
    others.length === 1
      ? state.online[others[0].id]
        ? 'Online'
        : 'Offline'
      : `${others.filter((p) => state.online[p.id]).length} of ${others.length} online`;
  const support = state.support[roomId];
  const isAgent = state.session?.role === 'support-agent' || state.session?.role === 'admin';
  const ended = support?.state === 'ended' || conversation?.status === 'ended' || conversation?.status === 'closed';

  return (
    <section
      className={`relative flex h-full min-h-0 flex-col bg-chat-bg ${dragging ? 'ring-2 ring-inset ring-chat-primary' : ''}`}
      aria-label={`Conversation: ${title}`}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes('Files')) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        setDropped(Array.from(e.dataTransfer.files));
      }}
    >
      <header className="flex items-center gap-2 border-b border-chat-border px-3 py-2">
        {onBack && (
          <button type="button" onClick={onBack} className="rounded p-1 md:hidden" aria-label="Back to conversations">
            ←
          </button>
        )}
        <div className="min-w-0 flex-1">
          <h2 className="truncate font-chat-heading text-base font-semibold text-chat-text" data-testid="conversation-title">
            {title}
          </h2>
          <p className="text-xs text-chat-muted" data-testid="presence">
            {others.length === 1 && !(conversation?.type === 'support' && (ended || support?.state === 'queued')) && (
              <span
                className={`mr-1 inline-block h-2 w-2 rounded-full ${state.online[others[0].id] ? 'bg-chat-success' : 'bg-gray-400'}`}
                aria-hidden="true"
              />
            )}
            {/* A support chat's state is what matters, not the visitor's presence. */}
            {conversation?.type === 'support' && ended
              ? 'Chat ended'
              : conversation?.type === 'support' && support?.state === 'queued'
                ? 'Waiting in the queue'
                : presence}
            {conversation?.type !== 'support' && ended && ' · ended'}
          </p>
        </div>
        {conversation?.type === 'support' && isAgent && !ended && (
          <button
            type="button"
            className="rounded-md border border-chat-border px-2 py-1 text-xs"
            onClick={() => void chat.endSupport(roomId)}
          >
            End chat
          </button>
        )}
      </header>
      {conversation?.type === 'support' && isAgent && <VisitorPanel roomId={roomId} />}
      <MessageList roomId={roomId} conversation={conversation} onReply={setReplyTo} />
      {ended && conversation?.type === 'support' && (
        <p className="border-t border-chat-border px-3 py-2 text-center text-xs text-chat-muted" role="status" data-testid="chat-ended-line">
          {conversation.support?.endedAt
            ? `This chat ended on ${new Date(conversation.support.endedAt).toLocaleString()}`
            : 'This chat has ended'}
        </p>
      )}
      <Composer
        roomId={roomId}
        replyTo={replyTo}
        onCancelReply={() => setReplyTo(null)}
        droppedFiles={dropped}
        onDroppedHandled={() => setDropped(null)}
        disabled={ended && conversation?.type === 'support'}
      />
    </section>
  );
}

export default ChatWindow;
