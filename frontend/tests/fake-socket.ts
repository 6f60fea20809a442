// A stand-in for a socket.io-client Socket: records emits, answers acks with
// per-event handlers, and lets a test push server events.

type Handler = (...args: unknown[]) => void;
export type AckHandler = (payload: unknown) => unknown;

export class FakeSocket {
  connected = false;
  emitted: Array<{ event: string; payload: unknown }> = [];
  handlers: Record<string, AckHandler> = {};
  session = { userId: 'guest_1_abc', name: 'Guest', role: 'public', guestToken: 'gt-1' };
  private listeners = new Map<string, Set<Handler>>();
  private timeoutMs: number | null = null;

  on(event: string, fn: Handler) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)!.add(fn);
    return this;
  }
  off(event: string, fn: Handler) {
    this.listeners.get(event)?.delete(fn);
    return this;
  }
  removeAllListeners() {
    this.listeners.clear();
    return this;
  }
  /** A server → client event. */
  serverEmit(event: string, ...args: unknown[]) {
    for (const fn of [...(this.listeners.get(event) ?? [])]) fn(...args);
  }
  connect() {
    this.connected = true;
    this.serverEmit('connect');
    this.serverEmit('session', this.session);
    return this;
  }
  disconnect() {
    this.connected = false;
    this.serverEmit('disconnect', 'io client disconnect');
    return this;
  }
  timeout(ms: number) {
    this.timeoutMs = ms;
    return this;
  }
  emit(event: string, payload?: unknown, cb?: (...args: unknown[]) => void) {
    this.emitted.push({ event, payload });
    const withTimeout = this.timeoutMs !== null;
    this.timeoutMs = null;
    if (typeof cb === 'function') {
      const h = this.handlers[event];
      const res = h ? h(payload) : { ok: true };
      if (res === undefined) return this; // never answered
      queueMicrotask(() => (withTimeout ? cb(null, res) : cb(res)));
    }
    return this;
  }
  /** How many listeners are subscribed, over all events. */
  listenerCount() {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
  emitsOf(event: string) {
    return this.emitted.filter((e) => e.event === event).map((e) => e.payload);
  }
}
