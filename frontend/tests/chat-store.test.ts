import { describe, expect, it } from 'vitest';
import {
  chatReducer,
  filterConversations,
  initialChatState,
  isReadByOthers,
  totalUnread,
  typingUserIds,
  type ChatState,
} from '@/lib/chat-store';
import type { ChatMessage, Conversation, UiMessage } from '@/lib/chat-types';

const id = (n: number) => `0192f6c5-0000-7000-8000-${String(n).padStart(12, '0')}`;

function msg(n: number, over: Partial<ChatMessage> = {}): ChatMessage {
  return {
    id: id(n),
    roomId: 'r1',
    authorId: '2',
    authorName: 'Ian',
    content: `m${n}`,
    type: 'text',
    attachments: [],
    parentId: null,
    createdAt: new Date(1700000000000 + n).toISOString(),
    editedAt: null,
    ...over,
  };
}

function conv(over: Partial<Conversation> = {}): Conversation {
  return {
    id: 'r1',
    type: 'direct',
    name: null,
    participants: [
      { id: '1', name: 'Ada', role: 'student', online: true },
      { id: '2', name: 'Ian', role: 'instructor', online: false },
    ],
    unreadCount: 0,
    lastMessage: null,
    ...over,
  };
}

function base(): ChatState {
  let s = chatReducer(initialChatState, { type: 'session', session: { userId: '1', name: 'Ada', role: 'student' } });
  s = chatReducer(s, { type: 'conversations/set', conversations: [conv()] });
  return s;
}

function pending(clientId: string, content: string, at: number): UiMessage {
  return { ...msg(0), id: `pending:${clientId}`, authorId: '1', authorName: 'Ada', content, clientId, status: 'pending', createdAt: new Date(at).toISOString() };
}

describe('chatReducer', () => {
  it('keeps messages in id order and ignores a duplicate id', () => {
    let s = base();
    s = chatReducer(s, { type: 'message/received', message: msg(3) });
    s = chatReducer(s, { type: 'message/received', message: msg(1) });
    s = chatReducer(s, { type: 'message/received', message: msg(2) });
    s = chatReducer(s, { type: 'message/received', message: msg(2) });
    expect(s.messages.r1.map((m) => m.content)).toEqual(['m1', 'm2', 'm3']);
    expect(s.conversations.r1.unreadCount).toBe(3);
    expect(s.conversations.r1.lastMessage?.id).toBe(id(3));
    expect(s.lastSeenId).toBe(id(3));
  });

  it('replaces a pending message by its clientId, once', () => {
    let s = base();
    s = chatReducer(s, { type: 'message/pending', message: pending('c-1', 'hello', 1) });
    s = chatReducer(s, { type: 'message/pending', message: pending('c-1', 'hello', 1) });
    expect(s.messages.r1).toHaveLength(1);
    const echoed = msg(5, { authorId: '1', content: 'hello', clientId: 'c-1' });
    s = chatReducer(s, { type: 'message/received', message: echoed }); // the ack
    s = chatReducer(s, { type: 'message/received', message: echoed }); // the room broadcast
    expect(s.messages.r1).toHaveLength(1);
    expect(s.messages.r1[0]).toMatchObject({ id: id(5), status: 'sent' });
    expect(s.conversations.r1.unreadCount).toBe(0); // own message never unread
  });

  it('orders pending messages after sent ones, by creation time', () => {
    let s = base();
    s = chatReducer(s, { type: 'message/pending', message: pending('c-b', 'second', 20) });
    s = chatReducer(s, { type: 'message/pending', message: pending('c-a', 'first', 10) });
    s = chatReducer(s, { type: 'message/received', message: msg(9) });
    expect(s.messages.r1.map((m) => m.content)).toEqual(['m9', 'first', 'second']);
  });

  it('marks a pending message failed and back to pending on retry', () => {
    let s = base();
    s = chatReducer(s, { type: 'message/pending', message: pending('c-1', 'x', 1) });
    s = chatReducer(s, { type: 'message/failed', clientId: 'c-1', error: 'forbidden' });
    expect(s.messages.r1[0]).toMatchObject({ status: 'failed', error: 'forbidden' });
    s = chatReducer(s, { type: 'message/retry', clientId: 'c-1' });
    expect(s.messages.r1[0].status).toBe('pending');
  });

  it('does not count unread in the open room, and clears on open', () => {
    let s = base();
    s = chatReducer(s, { type: 'message/received', message: msg(1) });
    expect(totalUnread(s)).toBe(1);
    s = chatReducer(s, { type: 'room/open', roomId: 'r1' });
    expect(totalUnread(s)).toBe(0);
    s = chatReducer(s, { type: 'message/received', message: msg(2) });
    expect(totalUnread(s)).toBe(0);
  });

  it('applies edits, deletions and reactions', () => {
    let s = base();
    s = chatReducer(s, { type: 'message/received', message: msg(1) });
    s = chatReducer(s, { type: 'message/received', message: msg(2) });
    s = chatReducer(s, { type: 'message/updated', message: msg(1, { content: 'edited', editedAt: new Date().toISOString() }) });
    expect(s.messages.r1[0]).toMatchObject({ content: 'edited' });
    s = chatReducer(s, { type: 'message/reaction', roomId: 'r1', messageId: id(1), reactions: { '👍': ['1'] } });
    expect(s.messages.r1[0].reactions).toEqual({ '👍': ['1'] });
    s = chatReducer(s, { type: 'message/deleted', roomId: 'r1', messageId: id(2) });
    expect(s.messages.r1.map((m) => m.id)).toEqual([id(1)]);
    expect(s.conversations.r1.lastMessage?.id).toBe(id(1));
    // an edit of a message we never had changes nothing
    const before = s;
    s = chatReducer(s, { type: 'message/updated', message: msg(7) });
    expect(s).toBe(before);
  });

  it('sync merges missed messages and deletions without duplicates', () => {
    let s = base();
    s = chatReducer(s, { type: 'message/received', message: msg(1) });
    s = chatReducer(s, { type: 'message/received', message: msg(2) });
    s = chatReducer(s, {
      type: 'sync/applied',
      messages: [msg(4), msg(2, { content: 'm2 edited' }), msg(3), { ...msg(1), deleted: true }],
    });
    expect(s.messages.r1.map((m) => m.content)).toEqual(['m2 edited', 'm3', 'm4']);
    expect(s.lastSeenId).toBe(id(4));
  });

  it('prepends older history and records hasMore', () => {
    let s = base();
    s = chatReducer(s, { type: 'history/loaded', roomId: 'r1', messages: [msg(6), msg(5)], hasMore: true, older: false });
    s = chatReducer(s, { type: 'history/loaded', roomId: 'r1', messages: [msg(4), msg(3)], hasMore: false, older: true });
    expect(s.messages.r1.map((m) => m.content)).toEqual(['m3', 'm4', 'm5', 'm6']);
    expect(s.hasMore.r1).toBe(false);
  });

  it('read ticks: a system line after my message (the away notice, "X joined") is not a reader', () => {
    let s = base();
    s = chatReducer(s, { type: 'message/received', message: msg(1, { authorId: '1' }) });
    s = chatReducer(s, { type: 'message/received', message: msg(2, { authorId: 'system', authorName: 'Seitech', type: 'system' }) });
    // Also when it comes with the history (a reload).
    s = chatReducer(s, {
      type: 'history/loaded',
      roomId: 'r1',
      messages: [msg(3, { authorId: 'system', type: 'system' }), msg(1, { authorId: '1' })],
      hasMore: false,
      older: false,
    });
    expect(isReadByOthers(s, s.messages.r1[0])).toBe(false);
    // The agent reading it is.
    s = chatReducer(s, { type: 'read', roomId: 'r1', userId: '2', messageId: id(3) });
    expect(isReadByOthers(s, s.messages.r1[0])).toBe(true);
  });

  it('read ticks: a message is read once another user read it or a newer one', () => {
    let s = base();
    const mine = msg(1, { authorId: '1' });
    s = chatReducer(s, { type: 'message/received', message: mine });
    s = chatReducer(s, { type: 'message/received', message: msg(2, { authorId: '1' }) });
    const [m1, m2] = s.messages.r1;
    expect(isReadByOthers(s, m1)).toBe(false);
    s = chatReducer(s, { type: 'read', roomId: 'r1', userId: '2', messageId: id(1) });
    expect(isReadByOthers(s, m1)).toBe(true);
    expect(isReadByOthers(s, m2)).toBe(false);
    // an older receipt never moves the mark back
    s = chatReducer(s, { type: 'read', roomId: 'r1', userId: '2', messageId: id(2) });
    s = chatReducer(s, { type: 'read', roomId: 'r1', userId: '2', messageId: id(1) });
    expect(isReadByOthers(s, m2)).toBe(true);
  });

  it('typing expires after its TTL, ends on a message, ignores self', () => {
    let s = base();
    s = chatReducer(s, { type: 'typing', roomId: 'r1', userId: '2', isTyping: true, now: 1000 });
    s = chatReducer(s, { type: 'typing', roomId: 'r1', userId: '1', isTyping: true, now: 1000 });
    expect(typingUserIds(s, 'r1', 2000)).toEqual(['2']);
    expect(typingUserIds(s, 'r1', 7001)).toEqual([]);
    s = chatReducer(s, { type: 'typing/expire', now: 7001 });
    expect(s.typing.r1).toEqual({});
    s = chatReducer(s, { type: 'typing', roomId: 'r1', userId: '2', isTyping: true, now: 1000 });
    s = chatReducer(s, { type: 'message/received', message: msg(1) });
    expect(typingUserIds(s, 'r1', 1001)).toEqual([]);
  });

  it('presence and support states', () => {
    let s = base();
    expect(s.online['1']).toBe(true);
    s = chatReducer(s, { type: 'presence', userId: '2', online: true });
    expect(s.online['2']).toBe(true);
    s = chatReducer(s, { type: 'support/queued', roomId: 'r1', position: 3 });
    expect(s.support.r1).toEqual({ state: 'queued', position: 3 });
    s = chatReducer(s, { type: 'support/assigned', roomId: 'r1', agent: { id: '5', name: 'Sam' } });
    expect(s.support.r1.state).toBe('active');
    s = chatReducer(s, { type: 'support/ended', roomId: 'r1' });
    expect(s.support.r1.state).toBe('ended');
  });

  it('filters and orders conversations by newest activity', () => {
    let s = base();
    s = chatReducer(s, { type: 'conversation/upsert', conversation: conv({ id: 'r2', type: 'group', name: 'Python 101', participants: [] }) });
    s = chatReducer(s, { type: 'message/received', message: msg(1) });
    s = chatReducer(s, { type: 'message/received', message: msg(2, { roomId: 'r2', content: 'homework' }) });
    expect(filterConversations(s, {}).map((c) => c.id)).toEqual(['r2', 'r1']);
    expect(filterConversations(s, { type: 'direct' }).map((c) => c.id)).toEqual(['r1']);
    expect(filterConversations(s, { search: 'homew' }).map((c) => c.id)).toEqual(['r2']);
    expect(filterConversations(s, { search: 'ian' }).map((c) => c.id)).toEqual(['r1']);
  });
});
