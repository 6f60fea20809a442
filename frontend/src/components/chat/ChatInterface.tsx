'use client';

import React, { useEffect, useState } from 'react';
import { useChat } from './ChatContext';
import { ChatSidebar } from './ChatSidebar';
import { ChatWindow } from './ChatWindow';
import { SupportConsole } from './SupportConsole';
import { totalUnread } from '@/lib/chat-store';

const STATUS_TEXT: Record<string, string> = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  connected: 'Connected',
  disconnected: 'Reconnecting…',
  offline: 'Offline: messages will be sent when you are back online',
  auth_failed: 'Sign-in to chat failed',
};

export interface ChatInterfaceProps {
  /** Open this conversation first. */
  initialRoomId?: string;
  className?: string;
}

export function ChatInterface({ initialRoomId, className }: ChatInterfaceProps) {
  const chat = useChat();
  const { state, openRoom } = chat;
  const [selected, setSelected] = useState<string | null>(initialRoomId ?? null);
  const [notifyState, setNotifyState] = useState<string>('default');
  const [available, setAvailable] = useState(true);
  // An admin serves support only once it says so (then like a general agent).
  const [adminServing, setAdminServing] = useState(false);

  useEffect(() => {
    if (typeof Notification !== 'undefined') setNotifyState(Notification.permission);
  }, []);

  useEffect(() => {
    openRoom(selected);
  }, [selected, openRoom]);

  // A click on a push notification (public/sw.js) opens its conversation here.
  useEffect(() => {
    if (typeof navigator === 'undefined' || !navigator.serviceWorker) return;
    const container = navigator.serviceWorker;
    const onMessage = (ev: MessageEvent) => {
      const data = ev.data as { type?: string; roomId?: unknown } | null;
      if (data?.type === 'seitech-chat:open-room' && typeof data.roomId === 'string' && data.roomId) setSelected(data.roomId);
    };
    container.addEventListener('message', onMessage);
    return () => container.removeEventListener('message', onMessage);
  }, []);

  const { enablePush } = chat;
  const enableNotifications = async () => {
    let permission: NotificationPermission;
    try {
      permission = await Notification.requestPermission();
    } catch {
      permission = 'denied';
    }
    setNotifyState(permission);
    if (permission === 'granted') await enablePush();
  };

  const unread = totalUnread(state);
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) Chat` : 'Chat';
  }, [unread]);

  const isAgent = state.session?.role === 'support-agent';
  const isStaff = isAgent || state.session?.role === 'admin';

  return (
    <div
      className={`flex h-full min-h-0 flex-col bg-chat-bg font-chat text-chat-text ${className ?? ''}`}
      data-testid="chat-interface"
      data-push={chat.pushStatus}
    >
      <header className="flex flex-wrap items-center gap-2 border-b border-chat-border px-3 py-2">
        <h1 className="font-chat-heading text-lg font-semibold">Messages</h1>
        <span
          className={`rounded-full px-2 py-0.5 text-xs ${state.connection === 'connected' ? 'bg-green-100 text-green-800' : 'bg-amber-100 text-amber-800'}`}
          role="status"
          data-testid="connection-status"
          data-status={state.connection}
        >
          {STATUS_TEXT[state.connection] ?? state.connection}
        </span>
        <span className="ml-auto text-sm text-chat-muted" data-testid="signed-in-as">
          {state.session ? `${state.session.name} (${state.session.role})` : ''}
        </span>
        {isAgent && (
          <label className="flex items-center gap-1 text-xs">
            <input
              type="checkbox"
              checked={available}
              onChange={async (e) => {
                setAvailable(e.target.checked);
                await chat.setAgentStatus(e.target.checked);
              }}
            />
            Available for support
          </label>
        )}
        {state.session?.role === 'admin' && (
          <label className="flex items-center gap-1 text-xs">
            <input
              type="checkbox"
              checked={adminServing}
              onChange={async (e) => {
                const on = e.target.checked;
                setAdminServing(on);
                const ack = await chat.setAgentStatus(on);
                if (!ack.ok) setAdminServing(!on);
              }}
            />
            Serve support chats
          </label>
        )}
        {isStaff && (
          <button
            type="button"
            className="rounded-md border border-chat-border px-2 py-1 text-xs"
            onClick={() => setSelected(null)}
            data-testid="open-desk"
          >
            Support desk
          </button>
        )}
        {notifyState === 'default' && typeof Notification !== 'undefined' && (
          <button
            type="button"
            className="rounded-md border border-chat-border px-2 py-1 text-xs"
            onClick={() => void enableNotifications()}
          >
            Enable notifications
          </button>
        )}
      </header>
      {chat.lastError && (
        <p role="alert" className="bg-amber-50 px-3 py-1 text-xs text-amber-900">
          {chat.lastError}
        </p>
      )}
      <div className="flex min-h-0 flex-1">
        <div className={`${selected ? 'hidden md:flex' : 'flex'} w-full min-h-0 flex-col md:w-80 md:shrink-0`}>
          <ChatSidebar selectedId={selected} onSelect={setSelected} />
        </div>
        <main className={`${selected ? 'flex' : 'hidden md:flex'} min-h-0 min-w-0 flex-1 flex-col`}>
          {selected ? (
            <ChatWindow roomId={selected} onBack={() => setSelected(null)} />
          ) : isStaff ? (
            <SupportConsole onOpen={setSelected} />
          ) : (
            <div className="m-auto p-6 text-center text-sm text-chat-muted">Choose a conversation</div>
          )}
        </main>
      </div>
    </div>
  );
}

export default ChatInterface;
