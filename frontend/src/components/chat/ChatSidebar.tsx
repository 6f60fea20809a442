'use client';

import React, { useEffect, useState } from 'react';
import { useChat } from './ChatContext';
import { conversationTitle, filterConversations } from '@/lib/chat-store';
import type { ConversationType, DirectoryUser } from '@/lib/chat-types';
import { allowedRecipients, determineChatRecipients } from '@/lib/chat-routing';

const FILTERS: Array<{ value: ConversationType | 'all'; label: string }> = [
  { value: 'all', label: 'All' },
  { value: 'direct', label: 'Direct' },
  { value: 'group', label: 'Groups' },
  { value: 'support', label: 'Support' },
  { value: 'channel', label: 'Channels' },
];

export interface ChatSidebarProps {
  selectedId: string | null;
  onSelect: (roomId: string) => void;
}

function NewConversation({ onStarted }: { onStarted: (roomId: string) => void }) {
  const chat = useChat();
  const session = chat.session;
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState('');
  const [users, setUsers] = useState<DirectoryUser[]>([]);
  const [error, setError] = useState<string | null>(null);
  const { searchUsers } = chat;

  useEffect(() => {
    if (!open) return;
    let cancelled = false;
    const t = setTimeout(async () => {
      const found = await searchUsers(query);
      if (!cancelled) setUsers(found);
    }, 200);
    return () => {
      cancelled = true;
      clearTimeout(t);
    };
  }, [open, query, searchUsers]);

  if (!session || determineChatRecipients(session.role).length === 0 || session.role === 'public') return null;
  // The gateway only returns users the caller may reach; the routing table
  // filters again so the UI never offers a forbidden recipient.
  const offered = allowedRecipients({ id: session.userId, role: session.role }, users);

  const start = async (u: DirectoryUser) => {
    setError(null);
    const existing = Object.values(chat.state.conversations).find(
      (c) => c.type === 'direct' && c.participants.some((p) => p.id === u.id),
    );
    if (existing) {
      setOpen(false);
      setQuery('');
      onStarted(existing.id);
      return;
    }
    const ack = await chat.createConversation({ type: 'direct', participantIds: [u.id] });
    if (!ack.ok) {
      setError(ack.error.message);
      return;
    }
    setOpen(false);
    setQuery('');
    onStarted(ack.conversation.id);
  };

  return (
    <div className="px-3 pb-2">
      <button
        type="button"
        className="w-full rounded-lg bg-chat-primary px-3 py-2 text-sm font-medium text-chat-primary-contrast focus:outline-none focus-visible:ring-2 focus-visible:ring-offset-2 focus-visible:ring-chat-primary"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
      >
        New conversation
      </button>
      {open && (
        <div className="mt-2 rounded-lg border border-chat-border p-2">
          <label className="block text-xs text-chat-muted" htmlFor="new-conv-search">
            Find a person
          </label>
          <input
            id="new-conv-search"
            className="mt-1 w-full rounded border border-chat-border px-2 py-1 text-sm"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            autoFocus
          />
          <ul className="mt-2 max-h-48 overflow-y-auto" aria-label="People you can message">
            {offered.map((u) => (
              <li key={u.id}>
                <button
                  type="button"
                  className="flex w-full items-center gap-2 rounded px-2 py-1 text-left text-sm hover:bg-chat-surface"
                  onClick={() => void start(u)}
                >
                  <span className={`h-2 w-2 rounded-full ${u.online ? 'bg-chat-success' : 'bg-gray-300'}`} aria-hidden="true" />
                  <span className="flex-1">{u.name}</span>
                  <span className="text-xs text-chat-muted">{u.role}</span>
                </button>
              </li>
            ))}
            {offered.length === 0 && <li className="px-2 py-1 text-xs text-chat-muted">Nobody found</li>}
          </ul>
          {error && (
            <p role="alert" className="text-xs text-chat-error">
              {error}
            </p>
          )}
        </div>
      )}
    </div>
  );
}

export function ChatSidebar({ selectedId, onSelect }: ChatSidebarProps) {
  const chat = useChat();
  const { state } = chat;
  const me = state.session?.userId;
  const [search, setSearch] = useState('');
  const [filter, setFilter] = useState<ConversationType | 'all'>('all');
  const list = filterConversations(state, { type: filter, search });

  return (
    <nav className="flex h-full min-h-0 flex-col border-r border-chat-border bg-chat-surface" aria-label="Conversations">
      <div className="p-3">
        <label htmlFor="chat-search" className="sr-only">
          Search conversations
        </label>
        <input
          id="chat-search"
          type="search"
          placeholder="Search conversations"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          className="w-full rounded-lg border border-chat-border bg-chat-bg px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-chat-primary"
        />
        <div role="group" aria-label="Filter by type" className="mt-2 flex flex-wrap gap-1">
          {FILTERS.map((f) => (
            <button
              key={f.value}
              type="button"
              aria-pressed={filter === f.value}
              onClick={() => setFilter(f.value)}
              className={`rounded-full px-2 py-0.5 text-xs ${
                filter === f.value ? 'bg-chat-primary text-chat-primary-contrast' : 'bg-chat-bg text-chat-muted border border-chat-border'
              }`}
            >
              {f.label}
            </button>
          ))}
        </div>
      </div>
      <NewConversation onStarted={onSelect} />
      <ul className="min-h-0 flex-1 overflow-y-auto" data-testid="conversation-list">
        {list.map((c) => {
          const others = c.participants.filter((p) => p.id !== me);
          const anyOnline = others.some((p) => state.online[p.id]);
          const title = conversationTitle(c, me);
          const last = c.lastMessage;
          return (
            <li key={c.id}>
              <button
                type="button"
                onClick={() => onSelect(c.id)}
                aria-current={selectedId === c.id ? 'true' : undefined}
                data-testid="conversation-item"
                data-room-id={c.id}
                className={`flex w-full items-start gap-2 px-3 py-2 text-left hover:bg-chat-bg focus:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-chat-primary ${
                  selectedId === c.id ? 'bg-chat-bg' : ''
                }`}
              >
                <span className="relative mt-1 flex h-8 w-8 shrink-0 items-center justify-center rounded-full bg-chat-primary/15 text-xs font-semibold text-chat-primary">
                  {title.slice(0, 1).toUpperCase()}
                  {anyOnline && (
                    <span
                      className="absolute -bottom-0.5 -right-0.5 h-2.5 w-2.5 rounded-full border-2 border-chat-surface bg-chat-success"
                      aria-label="online"
                      data-testid="online-dot"
                    />
                  )}
                </span>
                <span className="min-w-0 flex-1">
                  <span className="flex items-center justify-between gap-2">
                    <span className="truncate text-sm font-medium text-chat-text">{title}</span>
                    <span className="text-[10px] uppercase text-chat-muted">{c.type}</span>
                  </span>
                  <span className="block truncate text-xs text-chat-muted">
                    {last ? `${last.authorId === me ? 'You: ' : ''}${last.content || (last.attachments?.length ? '📎 Attachment' : '')}` : 'No messages yet'}
                  </span>
                </span>
                {c.unreadCount > 0 && (
                  <span
                    className="mt-1 rounded-full bg-chat-primary px-1.5 text-xs font-semibold text-chat-primary-contrast"
                    aria-label={`${c.unreadCount} unread`}
                    data-testid="unread-badge"
                  >
                    {c.unreadCount}
                  </span>
                )}
              </button>
            </li>
          );
        })}
        {list.length === 0 && <li className="px-3 py-4 text-sm text-chat-muted">No conversations</li>}
      </ul>
    </nav>
  );
}

export default ChatSidebar;
