// The outbox: every message the user writes goes here first (IndexedDB, so a
// reload keeps it), keyed by its clientId, and leaves only when the gateway
// has acked it. The gateway makes (userId, clientId) idempotent, so a resend
// after a lost ack never duplicates a message; the queue itself never holds
// two entries with one clientId. Only one tab of a browser flushes at a time
// (Web Locks where the browser has them).

import type { Attachment } from './chat-types';

export interface OutboxItem {
  clientId: string;
  /** Whose queue this is: the session's user id. */
  owner: string;
  roomId?: string;
  recipientId?: string;
  content: string;
  attachments?: string[];
  /** The attachment objects behind `attachments`, to show a queued message as it will look. */
  attachmentObjects?: Attachment[];
  parentId?: string | null;
  createdAt: string;
  seq: number;
}

export type SendResult = 'sent' | 'retry' | 'drop';

export interface FlushResult {
  sent: number;
  dropped: number;
  remaining: number;
}

const STORE = 'outbox';
const MAX_FLUSH_ITEMS = 1000;

let seqCounter = 0;
/** Monotonic within a tab, time-ordered across tabs. */
export function nextSeq(now: number = Date.now()): number {
  seqCounter = (seqCounter + 1) % 1000;
  return now * 1000 + seqCounter;
}

export function newClientId(): string {
  const c = globalThis.crypto as Crypto | undefined;
  if (c && typeof c.randomUUID === 'function') return `c-${c.randomUUID()}`;
  return `c-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function txDone(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

export class OfflineQueue {
  private dbPromise: Promise<IDBDatabase> | null = null;
  private flushing: Promise<FlushResult> | null = null;
  /** In-memory fallback where IndexedDB is not available (private mode, SSR). */
  private memory: Map<string, OutboxItem> | null = null;

  constructor(
    readonly owner: string,
    readonly dbName: string = 'seitech-chat',
  ) {}

  private db(): Promise<IDBDatabase> | null {
    if (this.memory) return null;
    if (typeof indexedDB === 'undefined') {
      this.memory = new Map();
      return null;
    }
    if (!this.dbPromise) {
      this.dbPromise = new Promise((resolve, reject) => {
        const open = indexedDB.open(this.dbName, 1);
        open.onupgradeneeded = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains(STORE)) {
            const store = db.createObjectStore(STORE, { keyPath: 'clientId' });
            store.createIndex('owner', 'owner', { unique: false });
          }
        };
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
    }
    return this.dbPromise;
  }

  /** Adds an item; false (and nothing changes) when its clientId is already queued. */
  async add(item: Omit<OutboxItem, 'owner' | 'seq'> & { seq?: number }): Promise<boolean> {
    const full: OutboxItem = { ...item, owner: this.owner, seq: item.seq ?? nextSeq() };
    const dbp = this.db();
    if (!dbp) {
      if (this.memory!.has(full.clientId)) return false;
      this.memory!.set(full.clientId, full);
      return true;
    }
    const db = await dbp;
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const existing = await req(store.get(full.clientId));
    if (existing) {
      await txDone(tx);
      return false;
    }
    store.add(full);
    await txDone(tx);
    return true;
  }

  /** This owner's items, oldest first. */
  async list(): Promise<OutboxItem[]> {
    const dbp = this.db();
    let items: OutboxItem[];
    if (!dbp) {
      items = [...this.memory!.values()];
    } else {
      const db = await dbp;
      const tx = db.transaction(STORE, 'readonly');
      items = (await req(tx.objectStore(STORE).index('owner').getAll(this.owner))) as OutboxItem[];
    }
    return items.filter((i) => i.owner === this.owner).sort((a, b) => a.seq - b.seq);
  }

  async has(clientId: string): Promise<boolean> {
    return (await this.list()).some((i) => i.clientId === clientId);
  }

  async remove(clientId: string): Promise<void> {
    const dbp = this.db();
    if (!dbp) {
      this.memory!.delete(clientId);
      return;
    }
    const db = await dbp;
    const tx = db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).delete(clientId);
    await txDone(tx);
  }

  async clear(): Promise<void> {
    for (const item of await this.list()) await this.remove(item.clientId);
  }

  /**
   * Sends the queue in order, one at a time, each removed only once `send`
   * says it was sent (acked) or must be dropped (rejected for good). Stops at
   * the first 'retry', so order is kept. Items added while flushing are sent
   * in the same flush. One flush at a time per tab, and per browser where Web
   * Locks exist (another tab already flushing: this call returns at once).
   */
  flush(send: (item: OutboxItem) => Promise<SendResult>): Promise<FlushResult> {
    if (this.flushing) return this.flushing;
    const run = async (): Promise<FlushResult> => {
      let sent = 0;
      let dropped = 0;
      const done = new Set<string>();
      for (let i = 0; i < MAX_FLUSH_ITEMS; i++) {
        const items = (await this.list()).filter((it) => !done.has(it.clientId));
        const head = items[0];
        if (!head) break;
        const result = await send(head);
        if (result === 'retry') break;
        done.add(head.clientId);
        await this.remove(head.clientId);
        if (result === 'sent') sent++;
        else dropped++;
      }
      return { sent, dropped, remaining: (await this.list()).length };
    };
    const locks = typeof navigator !== 'undefined' ? (navigator as Navigator & { locks?: LockManager }).locks : undefined;
    const guarded: Promise<FlushResult> = locks
      ? (locks.request(`${this.dbName}:outbox:${this.owner}`, { ifAvailable: true }, async (lock) => {
          if (!lock) return { sent: 0, dropped: 0, remaining: -1 };
          return run();
        }) as unknown as Promise<FlushResult>)
      : run();
    this.flushing = guarded.finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }
}
