// public/sw.js run in a sandbox with a fake ServiceWorkerGlobalScope.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';

const SOURCE = readFileSync(path.resolve(__dirname, '..', 'public', 'sw.js'), 'utf8');
const ORIGIN = 'https://app.example';

interface FakeClient {
  url: string;
  focused: boolean;
  posted: unknown[];
  focus(): Promise<FakeClient>;
  postMessage(m: unknown): void;
}

function client(url: string): FakeClient {
  const c: FakeClient = {
    url,
    focused: false,
    posted: [],
    focus: async () => {
      c.focused = true;
      return c;
    },
    postMessage: (m) => c.posted.push(m),
  };
  return c;
}

function load(windows: FakeClient[] = []) {
  const listeners: Record<string, (ev: unknown) => void> = {};
  const shown: Array<{ title: string; options: Record<string, unknown> }> = [];
  const opened: string[] = [];
  let skipped = false;
  const self = {
    location: { origin: ORIGIN },
    registration: {
      scope: `${ORIGIN}/`,
      showNotification: async (title: string, options: Record<string, unknown>) => {
        shown.push({ title, options });
      },
    },
    clients: {
      claim: async () => undefined,
      matchAll: async () => windows,
      openWindow: async (url: string) => {
        opened.push(url);
        return client(url);
      },
    },
    skipWaiting: () => {
      skipped = true;
    },
    addEventListener: (type: string, fn: (ev: unknown) => void) => {
      listeners[type] = fn;
    },
  };
  vm.runInNewContext(SOURCE, { self, URL, console });
  async function dispatch(type: string, fields: Record<string, unknown>) {
    const pending: Promise<unknown>[] = [];
    listeners[type]({ ...fields, waitUntil: (p: Promise<unknown>) => pending.push(p) });
    await Promise.all(pending);
  }
  return { listeners, shown, opened, dispatch, skipped: () => skipped };
}

function pushData(value: unknown) {
  return {
    json: () => (typeof value === 'string' ? JSON.parse(value) : value),
    text: () => (typeof value === 'string' ? value : JSON.stringify(value)),
  };
}

const PAYLOAD = {
  title: 'Ian Instructor',
  body: 'Question answered in the forum',
  roomId: 'room-1',
  messageId: 'm-1',
  authorId: '2',
  url: 'http://localhost:3001/chat?room=room-1',
};

describe('the service worker', () => {
  it('takes over at once', async () => {
    const sw = load();
    await sw.dispatch('install', {});
    expect(sw.skipped()).toBe(true);
    expect(Object.keys(sw.listeners).sort()).toEqual(['activate', 'install', 'notificationclick', 'push', 'pushsubscriptionchange']);
  });

  it('shows a notification for a push payload, one per conversation', async () => {
    const sw = load();
    await sw.dispatch('push', { data: pushData(PAYLOAD) });
    expect(sw.shown).toHaveLength(1);
    const { title, options } = sw.shown[0];
    expect(title).toBe('Ian Instructor');
    expect(options.body).toBe('Question answered in the forum');
    expect(options.tag).toBe('seitech-chat:room-1');
    // The gateway's URL is on another origin: the chat page of this app instead.
    expect(options.data).toEqual({ roomId: 'room-1', messageId: 'm-1', url: `${ORIGIN}/chat?room=room-1` });
  });

  it('keeps a same-origin URL from the payload', async () => {
    const sw = load();
    await sw.dispatch('push', { data: pushData({ ...PAYLOAD, url: `${ORIGIN}/chat?room=room-1&x=1` }) });
    expect((sw.shown[0].options.data as { url: string }).url).toBe(`${ORIGIN}/chat?room=room-1&x=1`);
  });

  it('still shows something for an empty or non-JSON push', async () => {
    const sw = load();
    await sw.dispatch('push', { data: null });
    await sw.dispatch('push', { data: { json: () => JSON.parse('not json'), text: () => 'plain words' } });
    expect(sw.shown.map((s) => s.title)).toEqual(['New message', 'New message']);
    expect(sw.shown[1].options.body).toBe('plain words');
    expect((sw.shown[0].options.data as { url: string }).url).toBe(`${ORIGIN}/chat`);
  });

  it('a click focuses an open chat window and opens the conversation there', async () => {
    const landing = client(`${ORIGIN}/`);
    const chat = client(`${ORIGIN}/chat`);
    const sw = load([landing, chat]);
    let closed = false;
    await sw.dispatch('notificationclick', {
      notification: { data: { roomId: 'room-1', url: `${ORIGIN}/chat?room=room-1` }, close: () => (closed = true) },
    });
    expect(closed).toBe(true);
    expect(chat.focused).toBe(true);
    expect(chat.posted).toEqual([{ type: 'seitech-chat:open-room', roomId: 'room-1' }]);
    expect(landing.focused).toBe(false);
    expect(sw.opened).toEqual([]);
  });

  it('a click with no chat window open opens the chat page on the conversation', async () => {
    const sw = load([client(`${ORIGIN}/`)]);
    await sw.dispatch('notificationclick', {
      notification: { data: { roomId: 'room-1', url: `${ORIGIN}/chat?room=room-1` }, close: () => undefined },
    });
    expect(sw.opened).toEqual([`${ORIGIN}/chat?room=room-1`]);
  });

  it('asks the open pages to subscribe again when the push service replaced the subscription', async () => {
    const chat = client(`${ORIGIN}/chat`);
    const sw = load([chat]);
    await sw.dispatch('pushsubscriptionchange', {});
    expect(chat.posted).toEqual([{ type: 'seitech-chat:resubscribe' }]);
  });
});
