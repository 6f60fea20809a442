import { describe, expect, it, vi } from 'vitest';
import {
  decodeVapidKey,
  fetchPushKey,
  subscribeToPush,
  uint8ArrayToUrlBase64,
  unsubscribeFromPush,
  urlBase64ToUint8Array,
  type PushSubscribeOptions,
  type PushUnsubscribeOptions,
  type PushSubscriptionLike,
  type ServiceWorkerContainerLike,
} from '@/lib/web-push';

// A real-shaped VAPID public key: 0x04 then 64 bytes.
const KEY_BYTES = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : (i * 37 + 11) % 256));
const KEY = uint8ArrayToUrlBase64(KEY_BYTES);
const OTHER_KEY_BYTES = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : (i * 13 + 5) % 256));

describe('base64url key decoding', () => {
  it('decodes base64url without padding to the exact bytes', () => {
    // "-" and "_" are the url-safe 62 and 63; 0xfb 0xff 0xbf encode as "-_-_".
    expect(Array.from(urlBase64ToUint8Array('-_-_'))).toEqual([0xfb, 0xff, 0xbf]);
    expect(Array.from(urlBase64ToUint8Array('AQ'))).toEqual([1]);
    expect(Array.from(urlBase64ToUint8Array('AQI'))).toEqual([1, 2]);
    expect(Array.from(urlBase64ToUint8Array(''))).toEqual([]);
  });

  it('accepts padding and plain base64, and round-trips', () => {
    expect(Array.from(urlBase64ToUint8Array('AQ=='))).toEqual([1]);
    expect(Array.from(urlBase64ToUint8Array('+/+/'))).toEqual([0xfb, 0xff, 0xbf]);
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(urlBase64ToUint8Array(uint8ArrayToUrlBase64(bytes)))).toEqual(Array.from(bytes));
    expect(uint8ArrayToUrlBase64(bytes)).not.toMatch(/[+/=]/);
  });

  it('returns a Uint8Array over its own ArrayBuffer (what applicationServerKey takes)', () => {
    const out = urlBase64ToUint8Array(KEY);
    expect(out).toBeInstanceOf(Uint8Array);
    expect(out.buffer).toBeInstanceOf(ArrayBuffer);
    expect(out.byteOffset).toBe(0);
    expect(out.byteLength).toBe(65);
  });

  it('refuses what is not base64url', () => {
    expect(() => urlBase64ToUint8Array('a b')).toThrow();
    expect(() => urlBase64ToUint8Array('abc$')).toThrow();
    expect(() => urlBase64ToUint8Array('A')).toThrow(); // one char cannot be a byte
  });

  it('a VAPID key must be an uncompressed P-256 point', () => {
    expect(Array.from(decodeVapidKey(KEY))).toEqual(Array.from(KEY_BYTES));
    expect(() => decodeVapidKey(uint8ArrayToUrlBase64(KEY_BYTES.slice(0, 33)))).toThrow(/P-256/);
    const compressed = KEY_BYTES.slice();
    compressed[0] = 2;
    expect(() => decodeVapidKey(uint8ArrayToUrlBase64(compressed))).toThrow(/P-256/);
  });
});

function response(status: number, body: unknown) {
  return { ok: status >= 200 && status < 300, status, json: async () => body };
}

describe('fetchPushKey', () => {
  it('GETs /api/chat/push/key and returns publicKey', async () => {
    const fetch = vi.fn(async () => response(200, { publicKey: KEY }));
    await expect(fetchPushKey('http://gw:3001/', fetch)).resolves.toBe(KEY);
    expect(fetch).toHaveBeenCalledWith('http://gw:3001/api/chat/push/key', expect.objectContaining({ method: 'GET' }));
  });

  it('404 (no key configured) is null', async () => {
    const fetch = async () => response(404, { error: { code: 'not_found', message: 'Web Push is not configured' } });
    await expect(fetchPushKey('http://gw', fetch)).resolves.toBeNull();
  });

  it('other failures throw', async () => {
    await expect(fetchPushKey('http://gw', async () => response(500, {}))).rejects.toThrow(/500/);
    await expect(fetchPushKey('http://gw', async () => response(200, { key: 'x' }))).rejects.toThrow(/publicKey/);
  });

  it('a request that never answers is bounded', async () => {
    await expect(fetchPushKey('http://gw', () => new Promise(() => undefined), 20)).rejects.toThrow(/longer than 20 ms/);
  });
});

interface FakeSub extends PushSubscriptionLike {
  unsubscribed: boolean;
}

function fakeSub(endpoint: string, key: Uint8Array | null): FakeSub {
  const sub: FakeSub = {
    endpoint,
    unsubscribed: false,
    options: { applicationServerKey: key ? key.slice().buffer : null },
    toJSON: () => ({ endpoint, keys: { p256dh: 'BPp256dh', auth: 'authsecret' } }),
    unsubscribe: async () => {
      sub.unsubscribed = true;
      return true;
    },
  };
  return sub;
}

function fakeBrowser(existing: FakeSub | null = null) {
  const calls: string[] = [];
  let current = existing;
  const subscribeOptions: Array<{ userVisibleOnly: boolean; applicationServerKey: Uint8Array }> = [];
  const registration = {
    pushManager: {
      getSubscription: async () => {
        calls.push('getSubscription');
        return current && !current.unsubscribed ? current : null;
      },
      subscribe: async (o: { userVisibleOnly: boolean; applicationServerKey: Uint8Array<ArrayBuffer> }) => {
        calls.push('subscribe');
        subscribeOptions.push(o);
        current = fakeSub('https://push.example/new', o.applicationServerKey);
        return current;
      },
    },
  };
  const container: ServiceWorkerContainerLike = {
    register: async (url: string, o?: { scope?: string }) => {
      calls.push(`register ${url} ${o?.scope}`);
      return registration;
    },
    ready: Promise.resolve(registration),
    getRegistration: async () => registration,
  };
  return { container, calls, subscribeOptions, current: () => current };
}

function options(over: Partial<PushSubscribeOptions> = {}) {
  const emitted: Array<{ event: string; payload: unknown }> = [];
  const fetch = vi.fn(async () => response(200, { publicKey: KEY }));
  const browser = fakeBrowser();
  const opts: PushSubscribeOptions = {
    baseUrl: 'http://gw',
    isGuest: false,
    permission: 'granted',
    serviceWorker: browser.container,
    fetch,
    emit: async (event, payload) => {
      emitted.push({ event, payload });
      return { ok: true, publicKey: KEY };
    },
    ...over,
  };
  return { opts, emitted, fetch, browser };
}

describe('subscribeToPush', () => {
  it('registers the worker, subscribes with the decoded key, and sends push:subscribe', async () => {
    const { opts, emitted, browser } = options();
    await expect(subscribeToPush(opts)).resolves.toEqual({ status: 'subscribed' });
    expect(browser.calls).toEqual(['register /sw.js /', 'getSubscription', 'subscribe']);
    expect(browser.subscribeOptions).toHaveLength(1);
    expect(browser.subscribeOptions[0].userVisibleOnly).toBe(true);
    expect(Array.from(browser.subscribeOptions[0].applicationServerKey)).toEqual(Array.from(KEY_BYTES));
    expect(emitted).toEqual([
      { event: 'push:subscribe', payload: { endpoint: 'https://push.example/new', keys: { p256dh: 'BPp256dh', auth: 'authsecret' } } },
    ]);
  });

  it('skips guests without asking the gateway or the browser', async () => {
    const { opts, emitted, fetch, browser } = options({ isGuest: true });
    await expect(subscribeToPush(opts)).resolves.toEqual({ status: 'guest' });
    expect(fetch).not.toHaveBeenCalled();
    expect(browser.calls).toEqual([]);
    expect(emitted).toEqual([]);
  });

  it('skips a browser without PushManager / service workers / Notification', async () => {
    for (const over of [{ serviceWorker: null }, { permission: undefined }]) {
      const { opts, fetch, emitted } = options(over);
      await expect(subscribeToPush(opts)).resolves.toEqual({ status: 'unsupported' });
      expect(fetch).not.toHaveBeenCalled();
      expect(emitted).toEqual([]);
    }
  });

  it('waits for the permission', async () => {
    for (const permission of ['default', 'denied'] as const) {
      const { opts, fetch } = options({ permission });
      await expect(subscribeToPush(opts)).resolves.toEqual({ status: 'permission' });
      expect(fetch).not.toHaveBeenCalled();
    }
  });

  it('a gateway without a key (404) is skipped cleanly: no worker, no subscription', async () => {
    const { opts, emitted, browser } = options({ fetch: async () => response(404, { error: { code: 'not_found' } }) });
    await expect(subscribeToPush(opts)).resolves.toEqual({ status: 'not-configured' });
    expect(browser.calls).toEqual([]);
    expect(emitted).toEqual([]);
  });

  it('reuses a subscription made with the same key', async () => {
    const existing = fakeSub('https://push.example/old', KEY_BYTES);
    const browser = fakeBrowser(existing);
    const { opts, emitted } = options({ serviceWorker: browser.container });
    await expect(subscribeToPush(opts)).resolves.toEqual({ status: 'subscribed' });
    expect(browser.calls).toEqual(['register /sw.js /', 'getSubscription']);
    expect(existing.unsubscribed).toBe(false);
    expect((emitted[0].payload as { endpoint: string }).endpoint).toBe('https://push.example/old');
  });

  it('replaces a subscription made with another key', async () => {
    const existing = fakeSub('https://push.example/old', OTHER_KEY_BYTES);
    const browser = fakeBrowser(existing);
    const { opts, emitted } = options({ serviceWorker: browser.container });
    await expect(subscribeToPush(opts)).resolves.toEqual({ status: 'subscribed' });
    expect(existing.unsubscribed).toBe(true);
    expect(browser.calls).toEqual(['register /sw.js /', 'getSubscription', 'subscribe']);
    expect((emitted[0].payload as { endpoint: string }).endpoint).toBe('https://push.example/new');
  });

  it('a push service that refuses (as headless Chromium does) is a failure, not an exception', async () => {
    const browser = fakeBrowser();
    browser.container.ready.then((r) => {
      r.pushManager.subscribe = async () => {
        throw new DOMException('Registration failed - push service error', 'AbortError');
      };
    });
    const { opts, emitted } = options({ serviceWorker: browser.container });
    await expect(subscribeToPush(opts)).resolves.toEqual({ status: 'failed', message: 'Registration failed - push service error' });
    expect(emitted).toEqual([]);
  });

  it('a worker that never activates is bounded', async () => {
    const browser = fakeBrowser();
    const container = { ...browser.container, ready: new Promise<never>(() => undefined) };
    const { opts } = options({ serviceWorker: container, timeoutMs: 20 });
    const result = await subscribeToPush(opts);
    expect(result.status).toBe('failed');
    expect(result.message).toMatch(/activation took longer than 20 ms/);
  });

  it('reports the gateway refusing the subscription', async () => {
    const { opts } = options({
      emit: async () => ({ ok: false, error: { code: 'invalid', message: 'endpoint must be an https URL' } }),
    });
    await expect(subscribeToPush(opts)).resolves.toEqual({ status: 'failed', message: 'endpoint must be an https URL' });
  });

  it('reports an unusable key and a failing key route without throwing', async () => {
    const bad = options({ fetch: async () => response(200, { publicKey: 'AAAA' }) });
    const r1 = await subscribeToPush(bad.opts);
    expect(r1.status).toBe('failed');
    expect(bad.browser.calls).toEqual([]);
    const down = options({
      fetch: async () => {
        throw new TypeError('Failed to fetch');
      },
    });
    await expect(subscribeToPush(down.opts)).resolves.toEqual({ status: 'failed', message: 'Failed to fetch' });
  });
});

describe('unsubscribeFromPush', () => {
  it('drops the current subscription', async () => {
    const existing = fakeSub('https://push.example/old', KEY_BYTES);
    const browser = fakeBrowser(existing);
    await expect(unsubscribeFromPush(browser.container)).resolves.toBe(true);
    expect(existing.unsubscribed).toBe(true);
  });

  it('is a no-op without push or without a subscription', async () => {
    await expect(unsubscribeFromPush(null)).resolves.toBe(false);
    const emit = vi.fn(async () => ({ ok: true as const }));
    await expect(unsubscribeFromPush(fakeBrowser(null).container, { emit })).resolves.toBe(false);
    expect(emit).not.toHaveBeenCalled();
  });

  it('tells the gateway the endpoint (push:unsubscribe) before dropping the subscription', async () => {
    const existing = fakeSub('https://push.example/old', KEY_BYTES);
    const browser = fakeBrowser(existing);
    const emit = vi.fn(async () => {
      expect(existing.unsubscribed).toBe(false);
      return { ok: true as const, removed: true };
    });
    await expect(unsubscribeFromPush(browser.container, { emit })).resolves.toBe(true);
    expect(emit).toHaveBeenCalledWith('push:unsubscribe', { endpoint: 'https://push.example/old' });
    expect(existing.unsubscribed).toBe(true);
  });

  it('drops the subscription whatever the gateway answers, or if it never answers (bounded)', async () => {
    const emits: Array<NonNullable<PushUnsubscribeOptions['emit']>> = [
      async () => ({ ok: false, error: { code: 'unavailable', message: 'try again' } }),
      async () => {
        throw new Error('socket gone');
      },
      () => new Promise<never>(() => undefined),
    ];
    for (const emit of emits) {
      const existing = fakeSub('https://push.example/old', KEY_BYTES);
      await expect(unsubscribeFromPush(fakeBrowser(existing).container, { emit, timeoutMs: 20 })).resolves.toBe(true);
      expect(existing.unsubscribed).toBe(true);
    }
  });
});
