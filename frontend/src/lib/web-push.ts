// Web Push: the gateway's VAPID public key (GET /api/chat/push/key, 404 when
// the gateway has no key), the service worker (public/sw.js), the browser's
// push subscription, and `push:subscribe { endpoint, keys: { p256dh, auth } }`
// (on sign-out `push:unsubscribe { endpoint }`) over the socket. Plain
// TypeScript with its browser parts passed in, so the flow is unit-tested
// with fakes.

import type { Ack } from './chat-types';

export type PushStatus =
  /** Not tried yet. */
  | 'idle'
  /** No service worker / PushManager / Notification in this browser. */
  | 'unsupported'
  /** Guests get no notifications (the gateway refuses them). */
  | 'guest'
  /** The user has not allowed notifications. */
  | 'permission'
  /** The gateway has no VAPID key (its key route answers 404). */
  | 'not-configured'
  | 'subscribing'
  | 'subscribed'
  /** Something on the way failed (push service, gateway); the page goes on without push. */
  | 'failed';

export interface PushResult {
  status: PushStatus;
  /** Why it failed, for logs and the UI's title text. */
  message?: string;
}

export const PUSH_STEP_TIMEOUT_MS = 15000;
export const SERVICE_WORKER_URL = '/sw.js';

/** The fixed-size keys of a VAPID public key: an uncompressed P-256 point. */
const P256_POINT_BYTES = 65;

/** Decodes base64url (or plain base64), with or without padding, to bytes. Throws on anything else. */
export function urlBase64ToUint8Array(value: string): Uint8Array<ArrayBuffer> {
  const trimmed = value.trim().replace(/=+$/, '');
  if (!/^[A-Za-z0-9\-_+/]*$/.test(trimmed) || trimmed.length % 4 === 1) {
    throw new Error('not base64url');
  }
  const b64 = trimmed.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (trimmed.length % 4)) % 4);
  const raw = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** Encodes bytes as unpadded base64url. */
export function uint8ArrayToUrlBase64(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let raw = '';
  for (let i = 0; i < view.length; i++) raw += String.fromCharCode(view[i]);
  return btoa(raw).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes a VAPID public key and checks that it is an uncompressed P-256 point. */
export function decodeVapidKey(value: string): Uint8Array<ArrayBuffer> {
  const bytes = urlBase64ToUint8Array(value);
  if (bytes.length !== P256_POINT_BYTES || bytes[0] !== 4) throw new Error('not an uncompressed P-256 public key');
  return bytes;
}

function sameBytes(a: ArrayBuffer | Uint8Array | null | undefined, b: Uint8Array): boolean {
  if (!a) return false;
  const x = a instanceof Uint8Array ? a : new Uint8Array(a);
  if (x.length !== b.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== b[i]) return false;
  return true;
}

class PushStepError extends Error {}

function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PushStepError(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]);
}

type FetchLike = (input: string, init?: RequestInit) => Promise<Pick<Response, 'ok' | 'status' | 'json'>>;

/**
 * The gateway's VAPID public key (base64url), or null when the gateway has
 * none (404). Throws on any other answer.
 */
export async function fetchPushKey(baseUrl: string, fetchImpl: FetchLike, timeoutMs = PUSH_STEP_TIMEOUT_MS): Promise<string | null> {
  const url = `${baseUrl.replace(/\/$/, '')}/api/chat/push/key`;
  const res = await bounded(fetchImpl(url, { method: 'GET', credentials: 'omit', cache: 'no-store' }), timeoutMs, 'the push key request');
  if (res.status === 404) return null;
  if (!res.ok) throw new PushStepError(`the push key request failed (${res.status})`);
  const body = (await res.json()) as { publicKey?: unknown } | null;
  const key = body && typeof body.publicKey === 'string' ? body.publicKey.trim() : '';
  if (!key) throw new PushStepError('no publicKey in the push key answer');
  return key;
}

// The parts of the browser's push API the flow uses (real objects fit them).
export interface PushSubscriptionLike {
  readonly endpoint: string;
  readonly options?: { readonly applicationServerKey?: ArrayBuffer | null };
  toJSON(): { endpoint?: string; keys?: Record<string, string> };
  unsubscribe(): Promise<boolean>;
}

export interface PushManagerLike {
  getSubscription(): Promise<PushSubscriptionLike | null>;
  subscribe(options: { userVisibleOnly: boolean; applicationServerKey: Uint8Array<ArrayBuffer> }): Promise<PushSubscriptionLike>;
}

export interface RegistrationLike {
  readonly pushManager: PushManagerLike;
}

export interface ServiceWorkerContainerLike {
  register(url: string, options?: { scope?: string }): Promise<unknown>;
  readonly ready: Promise<RegistrationLike>;
  getRegistration?(clientURL?: string): Promise<RegistrationLike | undefined>;
}

export interface PushSubscribeOptions {
  baseUrl: string;
  /** A guest (or a public visitor): push is skipped. */
  isGuest: boolean;
  /** `Notification.permission`, or undefined without the Notification API. */
  permission: NotificationPermission | undefined;
  /** `navigator.serviceWorker` when the browser also has PushManager, else null. */
  serviceWorker: ServiceWorkerContainerLike | null;
  fetch: FetchLike;
  /** `push:subscribe` over the socket, with its ack. */
  emit: (event: 'push:subscribe', payload: PushSubscriptionPayload) => Promise<Ack<object>>;
  serviceWorkerUrl?: string;
  timeoutMs?: number;
}

export interface PushSubscriptionPayload {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

/** What the flow needs from the browser, or null when it has no Web Push. */
export function browserServiceWorker(): ServiceWorkerContainerLike | null {
  if (typeof window === 'undefined' || typeof navigator === 'undefined') return null;
  if (!('serviceWorker' in navigator) || !navigator.serviceWorker) return null;
  if (!('PushManager' in window) || !('Notification' in window)) return null;
  if (window.isSecureContext === false) return null;
  return navigator.serviceWorker as unknown as ServiceWorkerContainerLike;
}

export function notificationPermission(): NotificationPermission | undefined {
  return typeof Notification === 'undefined' ? undefined : Notification.permission;
}

/**
 * Subscribes this browser to the gateway's Web Push and tells the gateway.
 * Never throws: every way out is a status (skips included).
 */
export async function subscribeToPush(opts: PushSubscribeOptions): Promise<PushResult> {
  const ms = opts.timeoutMs ?? PUSH_STEP_TIMEOUT_MS;
  if (opts.isGuest) return { status: 'guest' };
  if (!opts.serviceWorker || opts.permission === undefined) return { status: 'unsupported' };
  if (opts.permission !== 'granted') return { status: 'permission' };
  try {
    const key = await fetchPushKey(opts.baseUrl, opts.fetch, ms);
    if (key === null) return { status: 'not-configured' };
    let keyBytes: Uint8Array<ArrayBuffer>;
    try {
      keyBytes = decodeVapidKey(key);
    } catch (e) {
      return { status: 'failed', message: `the gateway's push key is unusable: ${(e as Error).message}` };
    }
    await bounded(Promise.resolve(opts.serviceWorker.register(opts.serviceWorkerUrl ?? SERVICE_WORKER_URL, { scope: '/' })), ms, 'the service worker registration');
    const registration = await bounded(opts.serviceWorker.ready, ms, 'the service worker activation');
    const manager = registration.pushManager;
    let sub = await bounded(manager.getSubscription(), ms, 'reading the push subscription');
    if (sub && !sameBytes(sub.options?.applicationServerKey, keyBytes)) {
      // Subscribed earlier with another gateway key: the push service would
      // refuse the new key's messages on it.
      await bounded(sub.unsubscribe(), ms, 'dropping the old push subscription');
      sub = null;
    }
    if (!sub) {
      sub = await bounded(manager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes }), ms, 'the push subscription');
    }
    const json = sub.toJSON();
    const endpoint = json.endpoint ?? sub.endpoint;
    const p256dh = json.keys?.p256dh;
    const auth = json.keys?.auth;
    if (!endpoint || !p256dh || !auth) return { status: 'failed', message: 'the push subscription has no keys' };
    const ack = await opts.emit('push:subscribe', { endpoint, keys: { p256dh, auth } });
    if (!ack.ok) return { status: 'failed', message: ack.error.message || ack.error.code };
    return { status: 'subscribed' };
  } catch (e) {
    return { status: 'failed', message: (e as Error)?.message || String(e) };
  }
}

export interface PushUnsubscribeOptions {
  /**
   * `push:unsubscribe` over the socket, with its ack: the gateway forgets the
   * subscription at once. Without it (no socket, e.g. the token was refused)
   * the gateway forgets it only when the push service answers 410 Gone.
   */
  emit?: (event: 'push:unsubscribe', payload: { endpoint: string }) => Promise<Ack<object>>;
  timeoutMs?: number;
}

/**
 * Drops this browser's push subscription (on sign-out): tells the gateway
 * first (`push:unsubscribe`, when `emit` is given; its failure does not stop
 * the rest), then unsubscribes the browser. Never throws; true when the
 * browser had a subscription and dropped it.
 */
export async function unsubscribeFromPush(
  serviceWorker: ServiceWorkerContainerLike | null,
  { emit, timeoutMs = PUSH_STEP_TIMEOUT_MS }: PushUnsubscribeOptions = {},
): Promise<boolean> {
  if (!serviceWorker?.getRegistration) return false;
  try {
    const registration = await bounded(serviceWorker.getRegistration('/'), timeoutMs, 'the service worker lookup');
    if (!registration) return false;
    const sub = await bounded(registration.pushManager.getSubscription(), timeoutMs, 'reading the push subscription');
    if (!sub) return false;
    const endpoint = sub.toJSON().endpoint ?? sub.endpoint;
    if (emit && endpoint) {
      // Best effort: the browser's subscription is dropped whatever the gateway says.
      await bounded(emit('push:unsubscribe', { endpoint }), timeoutMs, 'telling the gateway').catch(() => undefined);
    }
    return await bounded(sub.unsubscribe(), timeoutMs, 'the push unsubscription');
  } catch {
    return false;
  }
}
