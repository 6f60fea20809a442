'use client';

import React, { useCallback, useEffect, useState } from 'react';
import { ChatInterface, ChatProvider, useChatActions } from '@/components/chat';
import { chatUrl } from '@/lib/socket-client';
import { browserServiceWorker, unsubscribeFromPush } from '@/lib/web-push';

export interface DemoUser {
  id: string;
  name: string;
  role: string;
  /** Agents: their department and the widget topics that reach it. */
  department?: string;
  topics?: string[];
}

// The demo directory of the gateway (`--demo`, crates/chat-gateway/demo):
// the picker asks the gateway (GET /dev/users) and falls back to this copy
// when it cannot. The gateway answers GET /dev/token?user=<id> with a signed
// token for any of them. In the gateway's order (by name), so the options do
// not move when its answer replaces this copy.
export const DEMO_USERS: DemoUser[] = [
  { id: '1', name: 'Ada Student', role: 'student' },
  { id: '7', name: 'Bea Billing', role: 'support-agent', department: 'billing', topics: ['billing'] },
  { id: '3', name: 'Ben Student', role: 'student' },
  { id: '8', name: 'Gus General', role: 'support-agent', department: 'general', topics: ['other'] },
  { id: '2', name: 'Ian Instructor', role: 'instructor' },
  { id: '9', name: 'Root Admin', role: 'admin' },
  { id: '5', name: 'Sam Agent', role: 'support-agent', department: 'support', topics: ['technical_support'] },
  { id: '6', name: 'Sue Sales', role: 'support-agent', department: 'sales', topics: ['course_inquiry'] },
];

const ROLE_GROUPS: Array<{ role: string; label: string }> = [
  { role: 'student', label: 'Students' },
  { role: 'instructor', label: 'Instructors' },
  { role: 'support-agent', label: 'Support agents (answer the widget)' },
  { role: 'admin', label: 'Admins' },
];

const TOPIC_LABEL: Record<string, string> = {
  course_inquiry: 'Course inquiry',
  technical_support: 'Technical support',
  billing: 'Billing',
  other: 'Other',
};

/** "answers Course inquiry" / "general: helps every team when it is full". */
export function answers(u: DemoUser): string | null {
  if (u.role !== 'support-agent') return null;
  const topics = (u.topics ?? []).map((t) => TOPIC_LABEL[t] ?? t);
  const own = topics.length ? `answers ${topics.join(', ')}` : `${u.department ?? 'general'} department`;
  return u.department === 'general' ? `${own}; helps every team when it is busy or away` : own;
}

const TOKEN_KEY = 'seitech-chat:demo-token';

export function ChatPage({ url: urlProp }: { url?: string }) {
  const url = urlProp ?? chatUrl();
  const [token, setToken] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [userId, setUserId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [roomId, setRoomId] = useState<string | undefined>(undefined);
  const [users, setUsers] = useState<DemoUser[]>(DEMO_USERS);

  // The gateway's own list (it is the one that signs the tokens).
  useEffect(() => {
    const ctl = new AbortController();
    fetch(`${url.replace(/\/$/, '')}/dev/users`, { signal: ctl.signal })
      .then((r) => (r.ok ? (r.json() as Promise<{ users?: DemoUser[] }>) : null))
      .then((body) => {
        if (body?.users?.length) setUsers(body.users);
      })
      .catch(() => undefined);
    return () => ctl.abort();
  }, [url]);

  useEffect(() => {
    try {
      setToken(localStorage.getItem(TOKEN_KEY));
      const params = new URLSearchParams(window.location.search);
      const pre = params.get('user');
      if (pre) setUserId(pre);
      // A push notification's link: /chat?room=<id>.
      const room = params.get('room');
      if (room) setRoomId(room);
    } catch {
      /* no storage */
    }
    setLoaded(true);
  }, []);

  const signIn = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!userId) return;
    setBusy(true);
    setError(null);
    try {
      const res = await fetch(`${url.replace(/\/$/, '')}/dev/token?user=${encodeURIComponent(userId)}`);
      if (!res.ok) throw new Error(res.status === 404 ? 'The gateway is not in demo mode' : `Token request failed (${res.status})`);
      const body = (await res.json()) as { token?: string };
      if (!body.token) throw new Error('No token in the answer');
      localStorage.setItem(TOKEN_KEY, body.token);
      setToken(body.token);
    } catch (err) {
      setError((err as Error).message === 'Failed to fetch' ? `Cannot reach the chat gateway at ${url}` : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const signOut = useCallback(() => {
    localStorage.removeItem(TOKEN_KEY);
    setToken(null);
    // This browser's pushes were for the user leaving: drop the subscription.
    // The Sign out button has told the gateway already (push:unsubscribe);
    // after a refused token there is no socket to tell it with, and the push
    // service answers the gateway 410 on the next push instead.
    void unsubscribeFromPush(browserServiceWorker());
  }, []);

  if (!loaded) return null;

  if (!token) {
    return (
      <main className="mx-auto max-w-sm px-4 py-12">
        <h1 className="font-chat-heading text-2xl font-semibold">Sign in to chat (demo)</h1>
        <form onSubmit={signIn} className="mt-6 space-y-3">
          <label htmlFor="demo-user" className="block text-sm font-medium">
            Demo user
          </label>
          <select
            id="demo-user"
            value={userId}
            onChange={(e) => setUserId(e.target.value)}
            className="w-full rounded-lg border border-chat-border bg-chat-bg px-3 py-2"
          >
            <option value="">Choose a user…</option>
            {ROLE_GROUPS.map((g) => {
              const members = users.filter((u) => u.role === g.role);
              if (!members.length) return null;
              return (
                <optgroup key={g.role} label={g.label}>
                  {members.map((u) => (
                    <option key={u.id} value={u.id}>
                      {u.name}
                      {answers(u) ? ` — ${answers(u)}` : ''}
                    </option>
                  ))}
                </optgroup>
              );
            })}
          </select>
          <p className="text-xs text-chat-muted" data-testid="who-answers">
            The support widget on the home page goes by topic:{' '}
            {users
              .filter((u) => u.role === 'support-agent')
              .map((u) => `${u.name} ${answers(u)}`)
              .join(' · ')}
            . Sign in as that agent in another window to answer a visitor.
          </p>
          <button
            type="submit"
            disabled={!userId || busy}
            className="w-full rounded-lg bg-chat-primary px-3 py-2 font-medium text-chat-primary-contrast disabled:opacity-50"
          >
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
          {error && (
            <p role="alert" className="text-sm text-chat-error">
              {error}
            </p>
          )}
        </form>
      </main>
    );
  }

  return (
    <div className="flex h-[100dvh] flex-col">
      <ChatProvider url={url} token={token} onAuthFailed={signOut}>
        <ChatInterface className="flex-1" initialRoomId={roomId} />
        <SignOutButton onSignedOut={signOut} />
      </ChatProvider>
    </div>
  );
}

/** Inside the provider: tells the gateway to forget this browser's push subscription before the socket goes. */
export function SignOutButton({ onSignedOut }: { onSignedOut: () => void }) {
  const { disablePush } = useChatActions();
  const [busy, setBusy] = useState(false);
  const click = async () => {
    setBusy(true);
    try {
      await disablePush();
    } finally {
      onSignedOut();
    }
  };
  return (
    <button
      type="button"
      onClick={() => void click()}
      disabled={busy}
      className="border-t border-chat-border py-1 text-xs text-chat-muted disabled:opacity-50"
    >
      Sign out
    </button>
  );
}
