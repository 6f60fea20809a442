'use client';

/**
 * One open conversation: its header (title, presence or support state, "End
 * chat" for agents), the visitor panel beside a support chat, the message
 * list and the composer (each in its own file, re-exported here).
 */
import React, { useState } from 'react';
import { useChat } from './ChatContext';
import { VisitorPanel } from './SupportConsole';
import { conversationTitle } from '@/lib/chat-store';
import type { UiMessage } from '@/lib/chat-types';
import { MessageList } from './MessageList';
import { Composer } from './Composer';

export { MessageList, type MessageListProps } from './MessageList';
export { Composer, type ComposerProps } from './Composer';
export { QUICK_EMOJIS, PICKER_EMOJIS } from './emojis';

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
