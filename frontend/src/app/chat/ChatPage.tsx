'use client';

import React, { useCallback, useEffect, useState } from 'react';
import { ChatInterface, ChatProvider, useChat } from '@/components/chat';
import { chatUrl } from '@/lib/socket-client';
import { browserServiceWorker, unsubscribeFromPush } from '@/lib/web-push';

// The demo directory of the gateway (`--demo`); the gateway answers
// GET /dev/token?user=<id> with a signed token for any of them.
export const DEMO_USERS = [
  { id: '1', name: 'Ada Student', role: 'student' },
  { id: '2', name: 'Ian Instructor', role: 'instructor' },
  { id: '5', name: 'Sam Agent', role: 'support-agent' },
  { id: '9', name: 'Root Admin', role: 'admin' },
];

const TOKEN_KEY = 'seitech-chat:demo-token';

export function ChatPage({ url: urlProp }: { url?: string }) {
  const url = urlProp ?? chatUrl();
  const [token, setToken] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [userId, setUserId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [roomId, setRoomId] = useState<string | undefined>(undefined);

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
            {DEMO_USERS.map((u) => (
              <option key={u.id} value={u.id}>
                {u.name} ({u.role})
              </option>
            ))}
          </select>
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
  const { disablePush } = useChat();
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
