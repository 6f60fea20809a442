import React from 'react';
import { act, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket } from './fake-socket';

let socket: FakeSocket;

vi.mock('@/lib/socket-client', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@/lib/socket-client')>();
  return { ...actual, acquireSocket: () => socket, releaseSocket: () => undefined };
});

import {
  ChatProvider,
  useChat,
  useChatActions,
  useChatState,
  useOptionalChat,
  type ChatActions,
  type ChatContextValue,
} from '@/components/chat/ChatContext';

let api: ChatContextValue;
function Probe() {
  api = useChat();
  const msgs = api.state.messages.r1 ?? [];
  return (
    <ul>
      {msgs.map((m) => (
        <li key={m.clientId ?? m.id} data-testid="m" data-status={m.status}>
          {m.content}
        </li>
      ))}
    </ul>
  );
}

let nextId = 0;
const conversation = { id: 'r1', type: 'direct', name: 'Ian', participants: [], unreadCount: 0, lastMessage: null };

function setOnline(value: boolean) {
  Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => value });
  window.dispatchEvent(new Event(value ? 'online' : 'offline'));
}

beforeEach(() => {
  socket = new FakeSocket();
  socket.session = { userId: '1', name: 'Ada', role: 'student', guestToken: undefined as unknown as string };
  socket.handlers['conversations:list'] = () => ({ ok: true, conversations: [conversation] });
  socket.handlers['messages:history'] = () => ({ ok: true, messages: [], hasMore: false });
  socket.handlers['sync'] = () => ({ ok: true, messages: [], hasMore: false });
  socket.handlers['message'] = (p) => {
    const payload = p as { roomId: string; content: string; clientId: string };
    nextId++;
    return {
      ok: true,
      message: {
        id: `0192f6c5-0000-7000-8000-${String(nextId).padStart(12, '0')}`,
        roomId: payload.roomId,
        authorId: '1',
        authorName: 'Ada',
        content: payload.content,
        type: 'text',
        attachments: [],
        parentId: null,
        clientId: payload.clientId,
        createdAt: new Date().toISOString(),
        editedAt: null,
      },
    };
  };
  setOnline(true);
});

describe('ChatProvider outbox', () => {
  it('queues messages written offline and sends them once, in order, when back', async () => {
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.state.connection).toBe('connected'));
    await waitFor(() => expect(api.state.conversations.r1).toBeDefined());

    act(() => setOnline(false));
    expect(socket.connected).toBe(false);
    for (const text of ['one', 'two', 'three']) {
      await act(() => api.sendMessage({ roomId: 'r1', content: text }));
    }
    expect(screen.getAllByTestId('m').map((li) => [li.textContent, li.dataset.status])).toEqual([
      ['one', 'pending'],
      ['two', 'pending'],
      ['three', 'pending'],
    ]);
    expect(socket.emitsOf('message')).toHaveLength(0);

    act(() => setOnline(true));
    await waitFor(() => expect(screen.getAllByTestId('m').every((li) => li.dataset.status === 'sent')).toBe(true));
    const sent = socket.emitsOf('message') as Array<{ content: string; clientId: string }>;
    expect(sent.map((m) => m.content)).toEqual(['one', 'two', 'three']);
    expect(new Set(sent.map((m) => m.clientId)).size).toBe(3);

    // The room broadcast of the same messages changes nothing.
    const first = api.state.messages.r1[0];
    act(() => socket.serverEmit('message', { ...first }));
    expect(screen.getAllByTestId('m')).toHaveLength(3);
  });

  it('syncs from the last seen id after a reconnect', async () => {
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.state.conversations.r1).toBeDefined());
    await act(() => api.sendMessage({ roomId: 'r1', content: 'before' }));
    await waitFor(() => expect(api.state.messages.r1[0].status).toBe('sent'));
    const lastId = api.state.messages.r1[0].id;
    const missed = { ...api.state.messages.r1[0], id: '0192f6c5-0000-7000-8000-999999999999', authorId: '2', content: 'missed', clientId: null };
    socket.handlers['sync'] = () => ({ ok: true, messages: [missed], hasMore: false });
    act(() => {
      socket.disconnect();
      socket.connect();
    });
    await waitFor(() => expect(screen.getAllByTestId('m').map((li) => li.textContent)).toEqual(['before', 'missed']));
    expect(socket.emitsOf('sync')).toContainEqual({ since: lastId });
  });

  it('keeps a message rejected for good as failed, and not queued', async () => {
    socket.handlers['message'] = () => ({ ok: false, error: { code: 'forbidden', message: 'Not allowed' } });
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.state.conversations.r1).toBeDefined());
    await act(() => api.sendMessage({ roomId: 'r1', content: 'nope' }));
    await waitFor(() => expect(screen.getByTestId('m').dataset.status).toBe('failed'));
    expect(socket.emitsOf('message')).toHaveLength(1);
  });
});

describe('ChatProvider web push', () => {
  const KEY = `BA${'A'.repeat(85)}`; // 0x04 then 64 zero bytes, base64url
  let restore: Array<() => void> = [];
  let subscribed: Array<{ userVisibleOnly: boolean; applicationServerKey: Uint8Array }> = [];
  let keyStatus = 200;
  let fetchCalls: string[] = [];
  /** What happened on sign-out, in order. */
  let order: string[] = [];

  function setGlobal(target: object, name: string, value: unknown) {
    const had = Object.prototype.hasOwnProperty.call(target, name);
    const before = Object.getOwnPropertyDescriptor(target, name);
    Object.defineProperty(target, name, { configurable: true, writable: true, value });
    restore.push(() => {
      if (had && before) Object.defineProperty(target, name, before);
      else delete (target as Record<string, unknown>)[name];
    });
  }

  function installPushBrowser(permission: NotificationPermission) {
    subscribed = [];
    fetchCalls = [];
    order = [];
    let current: object | null = null;
    const registration = {
      pushManager: {
        getSubscription: async () => current,
        subscribe: async (o: { userVisibleOnly: boolean; applicationServerKey: Uint8Array }) => {
          subscribed.push(o);
          current = {
            endpoint: 'https://push.example/sub-1',
            options: { applicationServerKey: o.applicationServerKey.buffer },
            toJSON: () => ({ endpoint: 'https://push.example/sub-1', keys: { p256dh: 'P', auth: 'A' } }),
            unsubscribe: async () => {
              order.push('browser unsubscribed');
              current = null;
              return true;
            },
          };
          return current;
        },
      },
    };
    setGlobal(window, 'PushManager', function PushManager() {});
    setGlobal(window, 'Notification', { permission, requestPermission: async () => permission });
    setGlobal(navigator, 'serviceWorker', {
      register: async () => registration,
      ready: Promise.resolve(registration),
      getRegistration: async () => registration,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
    });
    setGlobal(globalThis, 'fetch', async (url: string) => {
      fetchCalls.push(url);
      return { ok: keyStatus === 200, status: keyStatus, json: async () => (keyStatus === 200 ? { publicKey: KEY } : { error: {} }) };
    });
  }

  beforeEach(() => {
    keyStatus = 200;
    restore = [];
    socket.handlers['push:subscribe'] = () => ({ ok: true, publicKey: KEY });
  });
  afterEach(() => {
    for (const r of restore.reverse()) r();
  });

  it('subscribes a signed-in user once notifications are allowed, and tells the gateway', async () => {
    installPushBrowser('granted');
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.pushStatus).toBe('subscribed'));
    expect(fetchCalls).toEqual(['http://127.0.0.1:1/api/chat/push/key']);
    expect(subscribed).toHaveLength(1);
    expect(subscribed[0].userVisibleOnly).toBe(true);
    expect(subscribed[0].applicationServerKey[0]).toBe(4);
    expect(socket.emitsOf('push:subscribe')).toEqual([{ endpoint: 'https://push.example/sub-1', keys: { p256dh: 'P', auth: 'A' } }]);
    // A reconnect of the same user does not subscribe again.
    act(() => {
      socket.disconnect();
      socket.connect();
    });
    await waitFor(() => expect(api.state.connection).toBe('connected'));
    expect(socket.emitsOf('push:subscribe')).toHaveLength(1);
  });

  it('disablePush tells the gateway (push:unsubscribe), then drops the browser\'s subscription', async () => {
    installPushBrowser('granted');
    socket.handlers['push:unsubscribe'] = () => {
      order.push('gateway told');
      return { ok: true, removed: true };
    };
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.pushStatus).toBe('subscribed'));
    expect(await act(() => api.disablePush())).toBe(true);
    expect(socket.emitsOf('push:unsubscribe')).toEqual([{ endpoint: 'https://push.example/sub-1' }]);
    expect(order).toEqual(['gateway told', 'browser unsubscribed']);
    expect(api.pushStatus).toBe('idle');
    // Nothing left: a second call tells no one.
    expect(await act(() => api.disablePush())).toBe(false);
    expect(socket.emitsOf('push:unsubscribe')).toHaveLength(1);
  });

  it('disablePush drops the browser\'s subscription even when the gateway refuses or is gone', async () => {
    installPushBrowser('granted');
    socket.handlers['push:unsubscribe'] = () => ({ ok: false, error: { code: 'unavailable', message: 'try again' } });
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.pushStatus).toBe('subscribed'));
    act(() => {
      socket.disconnect();
    });
    expect(await act(() => api.disablePush())).toBe(true);
    expect(order).toEqual(['browser unsubscribed']);
  });

  it('does nothing before the user allowed notifications; enablePush then does it', async () => {
    installPushBrowser('default');
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.state.conversations.r1).toBeDefined());
    expect(api.pushStatus).toBe('idle');
    expect(fetchCalls).toEqual([]);
    const result = await act(() => api.enablePush());
    expect(result).toEqual({ status: 'permission' });
    (window.Notification as unknown as { permission: string }).permission = 'granted';
    expect(await act(() => api.enablePush())).toEqual({ status: 'subscribed' });
    expect(socket.emitsOf('push:subscribe')).toHaveLength(1);
  });

  it('skips cleanly when the gateway has no key (404)', async () => {
    installPushBrowser('granted');
    keyStatus = 404;
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.pushStatus).toBe('not-configured'));
    expect(subscribed).toEqual([]);
    expect(socket.emitsOf('push:subscribe')).toEqual([]);
  });

  it('never subscribes a guest', async () => {
    installPushBrowser('granted');
    socket.session = { userId: 'guest_1_abc', name: 'Guest', role: 'public', guestToken: 'gt-1' };
    render(
      <ChatProvider token={null} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.state.session?.userId).toBe('guest_1_abc'));
    await waitFor(() => expect(api.state.connection).toBe('connected'));
    expect(await act(() => api.enablePush())).toEqual({ status: 'guest' });
    expect(fetchCalls).toEqual([]);
    expect(socket.emitsOf('push:subscribe')).toEqual([]);
  });

  it('skips a browser without PushManager', async () => {
    installPushBrowser('granted');
    delete (window as unknown as Record<string, unknown>).PushManager;
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.pushStatus).toBe('unsupported'));
    expect(fetchCalls).toEqual([]);
    expect(socket.emitsOf('push:subscribe')).toEqual([]);
  });
});

describe('ChatProvider contexts', () => {
  it('gives actions that keep their identity and do not re-render on state changes, state separately, and both in useChat', async () => {
    const actionSeen: ChatActions[] = [];
    let stateRenders = 0;
    let stateConnection = '';
    function ActionsOnly() {
      actionSeen.push(useChatActions());
      return null;
    }
    const MemoActions = React.memo(ActionsOnly);
    function StateOnly() {
      stateRenders++;
      stateConnection = useChatState().state.connection;
      return null;
    }
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <MemoActions />
        <StateOnly />
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.state.conversations.r1).toBeDefined());
    const rendersBefore = stateRenders;
    const actionRendersBefore = actionSeen.length;
    await act(() => api.sendMessage({ roomId: 'r1', content: 'hello' }));
    await waitFor(() => expect(api.state.messages.r1[0].status).toBe('sent'));
    expect(stateConnection).toBe('connected');
    expect(stateRenders).toBeGreaterThan(rendersBefore);
    expect(actionSeen.length).toBe(actionRendersBefore);
    expect(new Set(actionSeen).size).toBe(1);
    // useChat() is state and actions together, the actions the same functions.
    expect(api.sendMessage).toBe(actionSeen[0].sendMessage);
    expect(api.request).toBe(actionSeen[0].request);
    expect(api.isConnected).toBe(true);
  });

  it('unsubscribes every socket listener when the provider goes away', async () => {
    const { unmount } = render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.state.conversations.r1).toBeDefined());
    expect(socket.listenerCount()).toBeGreaterThan(19);
    unmount();
    expect(socket.listenerCount()).toBe(0);
  });

  it('throws outside a provider for useChat, useChatState and useChatActions; useOptionalChat gives null', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      for (const hook of [useChat, useChatState, useChatActions]) {
        function Outside() {
          hook();
          return null;
        }
        expect(() => render(<Outside />)).toThrow(/must be used inside <ChatProvider>/);
      }
    } finally {
      errors.mockRestore();
    }
    let optional: ChatContextValue | null | undefined;
    function Optional() {
      optional = useOptionalChat();
      return null;
    }
    render(<Optional />);
    expect(optional).toBeNull();
  });
});

describe('a disconnect by the gateway', () => {
  it('reconnects and catches up: socket.io-client would stay offline after "io server disconnect"', async () => {
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.state.connection).toBe('connected'));
    // The session handler catches up (lists, then syncs from the newest message seen).
    const catchUpsBefore = socket.emitsOf('conversations:list').length;
    vi.useFakeTimers();
    try {
      act(() => {
        // What the gateway does to a socket whose outgoing buffer overflowed.
        socket.connected = false;
        socket.serverEmit('disconnect', 'io server disconnect');
      });
      expect(api.state.connection).toBe('disconnected');
      expect(socket.connected).toBe(false);
      act(() => {
        vi.advanceTimersByTime(1000);
      });
      expect(socket.connected).toBe(true);
    } finally {
      vi.useRealTimers();
    }
    await waitFor(() => expect(socket.emitsOf('conversations:list').length).toBeGreaterThan(catchUpsBefore));
    expect(api.state.connection).toBe('connected');
  });

  it('stays disconnected after its own disconnect', async () => {
    render(
      <ChatProvider token={`jwt-${Math.random()}`} url="http://127.0.0.1:1">
        <Probe />
      </ChatProvider>,
    );
    await waitFor(() => expect(api.state.connection).toBe('connected'));
    vi.useFakeTimers();
    try {
      act(() => {
        socket.connected = false;
        socket.serverEmit('disconnect', 'io client disconnect');
        vi.advanceTimersByTime(5000);
      });
      expect(socket.connected).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});
