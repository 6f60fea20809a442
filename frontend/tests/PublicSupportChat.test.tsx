import React from 'react';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket } from './fake-socket';

let socket: FakeSocket;
const acquire = vi.fn();

vi.mock('@/lib/socket-client', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@/lib/socket-client')>();
  return {
    ...actual,
    acquireSocket: (url: string, token: string | null) => {
      acquire(url, token);
      return socket;
    },
    releaseSocket: () => undefined,
  };
});

import { PublicSupportChat, GUEST_TOKEN_KEY, SUPPORT_KEY, VISITED_KEY } from '@/components/chat/PublicSupportChat';
import { MAX_CONTENT_CHARS } from '@/lib/validation';

const conversation = { id: 'room-1', type: 'support', name: 'Support', participants: [], unreadCount: 0, lastMessage: null };

beforeEach(() => {
  socket = new FakeSocket();
  acquire.mockClear();
  localStorage.setItem(VISITED_KEY, 'true');
  socket.handlers['conversations:list'] = () => ({ ok: true, conversations: [] });
  socket.handlers['messages:history'] = () => ({ ok: true, messages: [], hasMore: false });
  socket.handlers['join'] = () => ({ ok: true, room: conversation });
});

describe('PublicSupportChat', () => {
  it('renders chat button', () => {
    render(<PublicSupportChat />);
    expect(screen.getByRole('button')).toBeInTheDocument();
  });

  it('opens pre-chat form on click', () => {
    render(<PublicSupportChat />);
    fireEvent.click(screen.getByRole('button'));
    expect(screen.getByText('Start Chat')).toBeInTheDocument();
    expect(screen.getByLabelText('Your name')).toHaveFocus();
  });

  it('does not connect before the visitor opens it', () => {
    render(<PublicSupportChat />);
    expect(acquire).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: /open support chat/i }));
    expect(acquire).toHaveBeenCalledTimes(1);
    expect(acquire.mock.calls[0][1]).toBeNull();
  });

  it('validates the pre-chat form and sends nothing while invalid', async () => {
    render(<PublicSupportChat />);
    fireEvent.click(screen.getByRole('button'));
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'not-an-email' } });
    fireEvent.click(screen.getByText('Start Chat'));
    expect(await screen.findByText('Please enter your name')).toBeInTheDocument();
    expect(screen.getByText('Please enter a valid email address')).toBeInTheDocument();
    expect(screen.getByLabelText('Your name')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText('Your name')).toHaveFocus();
    expect(socket.emitsOf('support:start')).toHaveLength(0);
  });

  it('ties every pre-chat error to its field, the optional message too', async () => {
    render(<PublicSupportChat />);
    fireEvent.click(screen.getByRole('button'));
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'not-an-email' } });
    fireEvent.change(screen.getByLabelText('How can we help? (optional)'), { target: { value: 'x'.repeat(MAX_CONTENT_CHARS + 1) } });
    fireEvent.click(screen.getByText('Start Chat'));
    await screen.findByText('Please enter your name');
    expect(screen.getByLabelText('Your name')).toHaveAccessibleDescription('Please enter your name');
    expect(screen.getByLabelText('Email')).toHaveAccessibleDescription('Please enter a valid email address');
    const message = screen.getByLabelText('How can we help? (optional)');
    expect(message).toHaveAttribute('aria-invalid', 'true');
    expect(message).toHaveAccessibleDescription(`Message must be ${MAX_CONTENT_CHARS} characters or fewer`);
    expect(screen.getByLabelText('Topic')).not.toHaveAttribute('aria-describedby');
    expect(socket.emitsOf('support:start')).toHaveLength(0);
  });

  it('goes queued → active → ended, then rates the chat', async () => {
    socket.handlers['support:start'] = () => ({ ok: true, conversation, status: 'queued', position: 2 });
    render(<PublicSupportChat />);
    fireEvent.click(screen.getByRole('button'));
    fireEvent.change(screen.getByLabelText('Your name'), { target: { value: 'Vera Visitor' } });
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'vera@example.org' } });
    fireEvent.change(screen.getByLabelText('Topic'), { target: { value: 'billing' } });
    fireEvent.click(screen.getByText('Start Chat'));

    expect(await screen.findByText(/number 2 in the queue/)).toBeInTheDocument();
    // The page the widget is on goes along, for the agent's visitor panel.
    expect(socket.emitsOf('support:start')[0]).toEqual({
      name: 'Vera Visitor',
      email: 'vera@example.org',
      queryType: 'billing',
      pageUrl: window.location.href,
    });
    expect(window.location.href).toMatch(/^https?:\/\//);
    expect(JSON.parse(localStorage.getItem(SUPPORT_KEY)!)).toMatchObject({ roomId: 'room-1', email: 'vera@example.org' });
    expect(localStorage.getItem(GUEST_TOKEN_KEY)).toBe('gt-1');
    // A reconnect comes back as the same guest.
    expect((socket as unknown as { auth: unknown }).auth).toEqual({ token: 'gt-1' });

    act(() => socket.serverEmit('support:queued', { roomId: 'room-1', position: 1 }));
    expect(await screen.findByText(/number 1 in the queue/)).toBeInTheDocument();

    act(() => socket.serverEmit('support:assigned', { roomId: 'room-1', agent: { id: '5', name: 'Sam Agent' } }));
    expect(await screen.findByText('You are chatting with Sam Agent')).toBeInTheDocument();
    act(() =>
      socket.serverEmit('message', {
        id: '0192f6c5-0000-7000-8000-000000000001',
        roomId: 'room-1',
        authorId: '5',
        authorName: 'Sam Agent',
        content: 'Hello Vera, how can I help?',
        type: 'text',
        attachments: [],
        parentId: null,
        createdAt: new Date().toISOString(),
        editedAt: null,
      }),
    );
    expect(await screen.findByText('Hello Vera, how can I help?')).toBeInTheDocument();

    act(() => socket.serverEmit('support:ended', { roomId: 'room-1' }));
    expect(await screen.findByText(/This chat has ended/)).toBeInTheDocument();
    fireEvent.click(screen.getByText('Submit rating'));
    expect(await screen.findByText('Please choose a rating')).toBeInTheDocument();
    expect(socket.emitsOf('support:rate')).toHaveLength(0);
    fireEvent.click(screen.getByRole('radio', { name: '4 stars' }));
    fireEvent.click(screen.getByText('Submit rating'));
    expect(await screen.findByText('Thanks for your feedback!')).toBeInTheDocument();
    expect(socket.emitsOf('support:rate')[0]).toEqual({ roomId: 'room-1', rating: 4, comment: undefined });

    fireEvent.click(screen.getByText('Email me the transcript'));
    expect(await screen.findByText('Transcript sent to vera@example.org')).toBeInTheDocument();
    expect(socket.emitsOf('support:transcript')[0]).toEqual({ roomId: 'room-1', email: 'vera@example.org' });
  });

  it('shows the server error when the chat cannot start', async () => {
    socket.handlers['support:start'] = () => ({ ok: false, error: { code: 'invalid', message: 'Email is invalid' } });
    render(<PublicSupportChat />);
    fireEvent.click(screen.getByRole('button'));
    fireEvent.change(screen.getByLabelText('Your name'), { target: { value: 'V' } });
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'v@example.org' } });
    fireEvent.click(screen.getByText('Start Chat'));
    expect(await screen.findByRole('alert')).toHaveTextContent('Email is invalid');
    expect(localStorage.getItem(SUPPORT_KEY)).toBeNull();
  });

  it('keeps the chat across a reload with the stored guest token', async () => {
    localStorage.setItem(GUEST_TOKEN_KEY, 'gt-stored');
    localStorage.setItem(SUPPORT_KEY, JSON.stringify({ roomId: 'room-1', name: 'Vera', email: 'v@example.org' }));
    socket.handlers['conversations:list'] = () => ({ ok: true, conversations: [{ ...conversation, status: 'active' }] });
    render(<PublicSupportChat />);
    // Connects straight away (a chat is going on) with the stored token.
    await waitFor(() => expect(acquire).toHaveBeenCalledWith(expect.any(String), 'gt-stored'));
    await waitFor(() => expect(socket.emitsOf('join')).toContainEqual({ roomId: 'room-1' }));
    fireEvent.click(screen.getByRole('button', { name: /open support chat/i }));
    expect(screen.queryByText('Start Chat')).not.toBeInTheDocument();
    // The composer shows once the join's ack (answered in a microtask) is in.
    expect(await screen.findByLabelText('Message')).toBeInTheDocument();
  });

  it('counts unread agent messages on the closed button', async () => {
    localStorage.setItem(GUEST_TOKEN_KEY, 'gt-stored');
    localStorage.setItem(SUPPORT_KEY, JSON.stringify({ roomId: 'room-1', name: 'Vera', email: 'v@example.org' }));
    socket.handlers['conversations:list'] = () => ({ ok: true, conversations: [{ ...conversation, status: 'active' }] });
    render(<PublicSupportChat />);
    await waitFor(() => expect(socket.emitsOf('join')).toContainEqual({ roomId: 'room-1' }));
    act(() =>
      socket.serverEmit('message', {
        id: '0192f6c5-0000-7000-8000-000000000009',
        roomId: 'room-1',
        authorId: '5',
        authorName: 'Sam Agent',
        content: 'Are you still there?',
        type: 'text',
        attachments: [],
        parentId: null,
        createdAt: new Date().toISOString(),
        editedAt: null,
      }),
    );
    expect(await screen.findByRole('button', { name: 'Open support chat, 1 unread' })).toBeInTheDocument();
    expect(screen.getByTestId('unread-count')).toHaveTextContent('1');
  });

  it('auto-opens once on a first visit', () => {
    vi.useFakeTimers();
    try {
      localStorage.removeItem(VISITED_KEY);
      const first = render(<PublicSupportChat autoOpenDelayMs={3000} />);
      expect(screen.queryByText('Start Chat')).not.toBeInTheDocument();
      act(() => {
        vi.advanceTimersByTime(3000);
      });
      expect(screen.getByText('Start Chat')).toBeInTheDocument();
      first.unmount();
      render(<PublicSupportChat autoOpenDelayMs={3000} />);
      act(() => {
        vi.advanceTimersByTime(10000);
      });
      expect(screen.queryByText('Start Chat')).not.toBeInTheDocument();
    } finally {
      vi.useRealTimers();
    }
  });

  it('minimises with Escape and returns focus to the launcher', () => {
    render(<PublicSupportChat />);
    fireEvent.click(screen.getByRole('button'));
    fireEvent.keyDown(screen.getByRole('dialog'), { key: 'Escape' });
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: /open support chat/i })).toHaveFocus();
  });
});
