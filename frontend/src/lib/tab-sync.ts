// Keeps the tabs of one browser in step (BroadcastChannel): read state,
// drafts and the outbox. Messages themselves reach every tab from the gateway
// (it emits `message` to the sender's other tabs too).

import type { UiMessage } from './chat-types';

export type TabMessage =
  | { kind: 'read'; roomId: string; messageId: string | null }
  | { kind: 'draft'; roomId: string; text: string }
  | { kind: 'outbox:added'; message: UiMessage }
  | { kind: 'outbox:changed' };

export interface TabSync {
  post(msg: TabMessage): void;
  close(): void;
}

export function createTabSync(name: string, onMessage: (msg: TabMessage) => void): TabSync {
  if (typeof BroadcastChannel === 'undefined') {
    return { post: () => undefined, close: () => undefined };
  }
  const channel = new BroadcastChannel(name);
  channel.onmessage = (ev: MessageEvent<TabMessage>) => {
    if (ev.data && typeof ev.data === 'object' && 'kind' in ev.data) onMessage(ev.data);
  };
  return {
    post: (msg) => {
      try {
        channel.postMessage(msg);
      } catch {
        /* a closed channel: nothing to tell */
      }
    },
    close: () => channel.close(),
  };
}

const DRAFT_PREFIX = 'seitech-chat:draft:';

export function loadDraft(owner: string, roomId: string): string {
  try {
    return localStorage.getItem(`${DRAFT_PREFIX}${owner}:${roomId}`) ?? '';
  } catch {
    return '';
  }
}

export function saveDraft(owner: string, roomId: string, text: string): void {
  try {
    const key = `${DRAFT_PREFIX}${owner}:${roomId}`;
    if (text) localStorage.setItem(key, text);
    else localStorage.removeItem(key);
  } catch {
    /* storage full or disabled: drafts are a convenience */
  }
}
