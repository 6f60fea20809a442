// One Socket.IO connection per tab and token: WebSocket first with long
// polling as the fallback, reconnection with exponential backoff, and a
// promise wrapper for acks with a bounded wait.

import { io, type Socket } from 'socket.io-client';
import type { Ack } from './chat-types';

export const DEFAULT_CHAT_URL = 'http://localhost:3001';

export function chatUrl(): string {
  return process.env.NEXT_PUBLIC_CHAT_URL || DEFAULT_CHAT_URL;
}

interface Entry {
  socket: Socket;
  refs: number;
}

const sockets = new Map<string, Entry>();

function key(url: string, token: string | null | undefined): string {
  return `${url}|${token ?? ''}`;
}

/** The tab's socket for this url and token, created (not yet connected) on first use. */
export function acquireSocket(url: string, token: string | null | undefined): Socket {
  const k = key(url, token);
  const existing = sockets.get(k);
  if (existing) {
    existing.refs++;
    return existing.socket;
  }
  const socket = io(url, {
    autoConnect: false,
    auth: token ? { token } : {},
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    randomizationFactor: 0.5,
    timeout: 10000,
    withCredentials: false,
  });
  sockets.set(k, { socket, refs: 1 });
  return socket;
}

/** Drops one reference; the last one disconnects the socket. */
export function releaseSocket(url: string, token: string | null | undefined): void {
  const k = key(url, token);
  const entry = sockets.get(k);
  if (!entry) return;
  entry.refs--;
  if (entry.refs <= 0) {
    entry.socket.removeAllListeners();
    entry.socket.disconnect();
    sockets.delete(k);
  }
}

export const ACK_TIMEOUT_MS = 10000;

/** Emits with an ack and a bounded wait; never rejects. */
export function emitWithAck<T extends object = object>(
  socket: Socket,
  event: string,
  payload: unknown,
  timeoutMs: number = ACK_TIMEOUT_MS,
): Promise<Ack<T>> {
  if (!socket.connected) {
    return Promise.resolve({ ok: false, error: { code: 'offline', message: 'Not connected' } });
  }
  return new Promise((resolve) => {
    socket.timeout(timeoutMs).emit(event, payload, (err: unknown, res: Ack<T> | undefined) => {
      if (err) resolve({ ok: false, error: { code: 'timeout', message: 'No answer from the chat server' } });
      else if (!res || typeof res !== 'object' || !('ok' in res))
        resolve({ ok: false, error: { code: 'invalid', message: 'Unexpected answer from the chat server' } });
      else resolve(res);
    });
  });
}

/** Ack errors worth retrying later (the message stays queued). */
export function isTransient(code: string): boolean {
  return code === 'timeout' || code === 'offline' || code === 'rate_limited' || code === 'unavailable';
}
