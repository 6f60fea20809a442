import { describe, expect, it } from 'vitest';
import { OfflineQueue, newClientId, type OutboxItem } from '@/lib/offline-queue';

let dbCounter = 0;
const freshDb = () => `test-db-${++dbCounter}`;

function item(clientId: string, content: string, seq: number) {
  return { clientId, roomId: 'r1', content, createdAt: new Date().toISOString(), seq };
}

describe('OfflineQueue', () => {
  it('keeps items in order and survives a new instance (a reload)', async () => {
    const db = freshDb();
    const q = new OfflineQueue('1', db);
    await q.add(item('c-2', 'two', 2));
    await q.add(item('c-1', 'one', 1));
    await q.add(item('c-3', 'three', 3));
    const again = new OfflineQueue('1', db);
    expect((await again.list()).map((i) => i.content)).toEqual(['one', 'two', 'three']);
  });

  it('keeps the attachment objects of a queued message across a reload', async () => {
    const db = freshDb();
    const att = { id: 'a1', name: 'homework.png', mimeType: 'image/png', size: 67, url: '/api/chat/attachments/a1?exp=1&sig=x', thumbnailUrl: null };
    await new OfflineQueue('1', db).add({ ...item('c-1', 'with a file', 1), attachments: ['a1'], attachmentObjects: [att] });
    const [restored] = await new OfflineQueue('1', db).list();
    expect(restored.attachments).toEqual(['a1']);
    expect(restored.attachmentObjects).toEqual([att]);
  });

  it('never holds two items with one clientId', async () => {
    const q = new OfflineQueue('1', freshDb());
    expect(await q.add(item('c-1', 'one', 1))).toBe(true);
    expect(await q.add(item('c-1', 'one again', 2))).toBe(false);
    expect((await q.list()).map((i) => i.content)).toEqual(['one']);
  });

  it('keeps each user’s queue apart', async () => {
    const db = freshDb();
    await new OfflineQueue('1', db).add(item('c-1', 'ada', 1));
    await new OfflineQueue('2', db).add(item('c-2', 'ian', 2));
    expect((await new OfflineQueue('1', db).list()).map((i) => i.content)).toEqual(['ada']);
  });

  it('flushes in order, removing only acked or rejected items', async () => {
    const q = new OfflineQueue('1', freshDb());
    await q.add(item('c-1', 'one', 1));
    await q.add(item('c-2', 'bad', 2));
    await q.add(item('c-3', 'three', 3));
    const seen: string[] = [];
    const res = await q.flush(async (i: OutboxItem) => {
      seen.push(i.content);
      return i.content === 'bad' ? 'drop' : 'sent';
    });
    expect(seen).toEqual(['one', 'bad', 'three']);
    expect(res).toEqual({ sent: 2, dropped: 1, remaining: 0 });
    expect(await q.list()).toEqual([]);
  });

  it('stops at the first retry so order is kept, and resumes later', async () => {
    const q = new OfflineQueue('1', freshDb());
    for (let n = 1; n <= 3; n++) await q.add(item(`c-${n}`, `m${n}`, n));
    let online = true;
    const sent: string[] = [];
    const send = async (i: OutboxItem) => {
      if (!online) return 'retry' as const;
      sent.push(i.content);
      if (i.content === 'm1') online = false; // the network drops after m1
      return 'sent' as const;
    };
    expect(await q.flush(send)).toEqual({ sent: 1, dropped: 0, remaining: 2 });
    online = true;
    expect(await q.flush(send)).toEqual({ sent: 2, dropped: 0, remaining: 0 });
    expect(sent).toEqual(['m1', 'm2', 'm3']);
  });

  it('sends items added during a flush in the same flush', async () => {
    const q = new OfflineQueue('1', freshDb());
    await q.add(item('c-1', 'one', 1));
    const sent: string[] = [];
    await q.flush(async (i) => {
      sent.push(i.content);
      if (i.content === 'one') await q.add(item('c-2', 'two', 2));
      return 'sent';
    });
    expect(sent).toEqual(['one', 'two']);
  });

  it('runs one flush at a time: a second call joins the first', async () => {
    const q = new OfflineQueue('1', freshDb());
    await q.add(item('c-1', 'one', 1));
    let calls = 0;
    const send = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      return 'sent' as const;
    };
    const [a, b] = await Promise.all([q.flush(send), q.flush(send)]);
    expect(calls).toBe(1);
    expect(a).toEqual(b);
  });

  it('makes unique client ids', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newClientId()));
    expect(ids.size).toBe(100);
  });
});
