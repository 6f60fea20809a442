'use client';

// The agent console (docs/protocol.md, "Agent console"): the queue with a
// "Take" action for agents, the supervisor view for admins, and the visitor
// panel with transfer beside a support chat. Every view fetches again when
// the gateway says the desk changed (`support:desk:changed`), so it is live.

import React, { useEffect, useState } from 'react';
import { useChat } from './ChatContext';

export interface QueueItem {
  roomId: string;
  visitorName: string;
  queryType: string;
  department: string;
  position: number;
  waitingSince: string;
  firstMessage: string | null;
}

export interface DeskAgent {
  id: string;
  name: string;
  department: string;
  online: boolean;
  available: boolean;
  maxChats: number;
  activeChats: number;
  chats: Array<{ roomId: string; visitorName: string; department: string }>;
}

export interface VisitorInfo {
  visitor: { id: string; name: string; email: string };
  queryType: string;
  department: string;
  /** The page the visitor opened the widget on, when known. */
  pageUrl: string | null;
  status: string;
  startedAt: string;
  endedAt: string | null;
  agent: { id: string; name: string } | null;
  position: number | null;
  earlier: Array<{
    roomId: string;
    queryType: string;
    department: string;
    status: string;
    startedAt: string;
    endedAt: string | null;
    rating: number | null;
    agentName: string | null;
  }>;
  transferTargets: Array<{ id: string; name: string; department: string }>;
}

export const TOPIC_LABELS: Record<string, string> = {
  course_inquiry: 'Course inquiry',
  technical_support: 'Technical support',
  billing: 'Billing',
  other: 'Other',
};

export const DEPARTMENTS = ['sales', 'support', 'billing', 'general'];

/** "3 min", "1 h 5 min": how long since `iso`, for waiting times. */
export function since(iso: string, now: number): string {
  const ms = Math.max(0, now - Date.parse(iso));
  const min = Math.floor(ms / 60000);
  if (min < 1) return `${Math.floor(ms / 1000)} s`;
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

function useNow(everyMs = 5000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

function QueueList({ queue, now, onTake }: { queue: QueueItem[]; now: number; onTake?: (roomId: string) => void }) {
  if (!queue.length) {
    return (
      <p className="text-sm text-chat-muted" data-testid="queue-empty">
        Nobody is waiting.
      </p>
    );
  }
  return (
    <ol className="space-y-2" aria-label="Waiting visitors">
      {queue.map((q) => (
        <li
          key={q.roomId}
          className="flex items-start gap-3 rounded-lg border border-chat-border p-2 text-sm"
          data-testid="queue-item"
          data-room-id={q.roomId}
        >
          <div className="min-w-0 flex-1">
            <p className="font-medium">
              {q.visitorName}{' '}
              <span className="text-xs font-normal text-chat-muted">
                · {TOPIC_LABELS[q.queryType] ?? q.queryType} ({q.department}) · #{q.position} · waiting {since(q.waitingSince, now)}
              </span>
            </p>
            {q.firstMessage && <p className="truncate text-xs text-chat-muted">“{q.firstMessage}”</p>}
          </div>
          {onTake && (
            <button
              type="button"
              className="rounded-md bg-chat-primary px-2 py-1 text-xs font-medium text-chat-primary-contrast"
              onClick={() => onTake(q.roomId)}
              aria-label={`Take the chat with ${q.visitorName}`}
            >
              Take
            </button>
          )}
        </li>
      ))}
    </ol>
  );
}

/** The desk for agents (queue + take) and admins (supervisor view). */
export function SupportConsole({ onOpen }: { onOpen: (roomId: string) => void }) {
  const chat = useChat();
  const { request, deskVersion, state } = chat;
  const role = state.session?.role;
  const [queue, setQueue] = useState<QueueItem[]>([]);
  const [agents, setAgents] = useState<DeskAgent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = useNow();

  useEffect(() => {
    let cancelled = false;
    if (role === 'admin') {
      void request<{ agents: DeskAgent[]; queue: QueueItem[] }>('support:desk', {}).then((ack) => {
        if (cancelled || !ack.ok) return;
        setAgents(ack.agents ?? []);
        setQueue(ack.queue ?? []);
      });
    } else if (role === 'support-agent') {
      void request<{ queue: QueueItem[] }>('support:queue', {}).then((ack) => {
        if (!cancelled && ack.ok) setQueue(ack.queue ?? []);
      });
    }
    return () => {
      cancelled = true;
    };
  }, [request, deskVersion, role, state.connection]);

  const take = async (roomId: string) => {
    setError(null);
    const ack = await request<{ conversation: { id: string } }>('support:take', { roomId });
    if (!ack.ok) {
      setError(ack.error.message);
      return;
    }
    await chat.refreshConversations();
    onOpen(roomId);
  };

  if (role !== 'admin' && role !== 'support-agent') return null;
  // An admin who serves support (its "Serve support chats" switch) takes chats too.
  const serving = role === 'admin' && !!agents?.some((a) => a.id === state.session?.userId && a.online);
  const canTake = role === 'support-agent' || serving;
  return (
    <section className="w-full max-w-3xl space-y-4 overflow-y-auto p-4" aria-label="Support desk" data-testid="support-console">
      <div>
        <h2 className="font-chat-heading text-base font-semibold">Waiting visitors ({queue.length})</h2>
        <p className="mb-2 text-xs text-chat-muted">
          {role === 'admin' ? 'Every department’s queue.' : 'The queues your department serves. Take a chat to answer it now.'}
        </p>
        <QueueList queue={queue} now={now} onTake={canTake ? (id) => void take(id) : undefined} />
        {error && (
          <p role="alert" className="mt-1 text-xs text-chat-error">
            {error}
          </p>
        )}
      </div>
      {role === 'admin' && agents && (
        <div>
          <h2 className="font-chat-heading text-base font-semibold">Agents</h2>
          <table className="mt-2 w-full text-left text-sm" data-testid="desk-agents">
            <thead className="text-xs text-chat-muted">
              <tr>
                <th className="py-1 font-medium">Agent</th>
                <th className="py-1 font-medium">Department</th>
                <th className="py-1 font-medium">Status</th>
                <th className="py-1 font-medium">Load</th>
                <th className="py-1 font-medium">Chats</th>
              </tr>
            </thead>
            <tbody>
              {agents.map((a) => (
                <tr key={a.id} className="border-t border-chat-border" data-testid="desk-agent" data-agent-id={a.id}>
                  <td className="py-1">{a.name}</td>
                  <td className="py-1">{a.department}</td>
                  <td className="py-1" data-testid="desk-agent-status">
                    <span
                      className={`mr-1 inline-block h-2 w-2 rounded-full ${a.online && a.available ? 'bg-chat-success' : a.online ? 'bg-amber-400' : 'bg-gray-400'}`}
                      aria-hidden="true"
                    />
                    {a.online ? (a.available ? 'available' : 'unavailable') : 'offline'}
                  </td>
                  <td className="py-1" data-testid="desk-agent-load">
                    {a.activeChats}/{a.maxChats}
                  </td>
                  <td className="py-1 text-xs">
                    {a.chats.map((c) => (
                      <button key={c.roomId} type="button" className="mr-1 underline" onClick={() => onOpen(c.roomId)}>
                        {c.visitorName}
                      </button>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** Beside a support chat, for its agent or an admin: who the visitor is, and transfer. */
export function VisitorPanel({ roomId }: { roomId: string }) {
  const chat = useChat();
  const { request, deskVersion } = chat;
  const [info, setInfo] = useState<VisitorInfo | null>(null);
  const [target, setTarget] = useState('');
  const [status, setStatus] = useState<string | null>(null);
  const now = useNow();
  const participants = chat.state.conversations[roomId]?.participants.length;

  useEffect(() => {
    let cancelled = false;
    void request<VisitorInfo>('support:visitor', { roomId }).then((ack) => {
      if (cancelled) return;
      setInfo(ack.ok ? ack : null);
    });
    return () => {
      cancelled = true;
    };
  }, [request, roomId, deskVersion, participants]);

  if (!info) return null;
  const transfer = async () => {
    if (!target) return;
    setStatus('Transferring…');
    const [kind, value] = target.split(':');
    const ack = await request<{ agent: { id: string; name: string } }>(
      'support:transfer',
      kind === 'agent' ? { roomId, agentId: value } : { roomId, department: value },
    );
    setStatus(ack.ok ? `Transferred to ${ack.agent.name}` : `Could not transfer: ${ack.error.message}`);
    setTarget('');
  };
  const waited = info.endedAt
    ? `chat from ${new Date(info.startedAt).toLocaleString()}`
    : `started ${since(info.startedAt, now)} ago`;
  return (
    <aside className="space-y-2 border-b border-chat-border bg-chat-surface px-3 py-2 text-xs" aria-label="Visitor" data-testid="visitor-panel">
      <p>
        <span className="font-semibold">{info.visitor.name}</span> ·{' '}
        <a className="text-chat-primary underline" href={`mailto:${info.visitor.email}`} data-testid="visitor-email">
          {info.visitor.email}
        </a>
      </p>
      <p data-testid="visitor-topic">
        {TOPIC_LABELS[info.queryType] ?? info.queryType} · {info.department} department · {waited}
      </p>
      {info.pageUrl && /^https?:\/\//i.test(info.pageUrl) && (
        <p className="truncate" data-testid="visitor-page">
          Came from{' '}
          <a className="text-chat-primary underline" href={info.pageUrl} target="_blank" rel="noopener noreferrer">
            {info.pageUrl}
          </a>
        </p>
      )}
      <details data-testid="visitor-earlier">
        <summary className="cursor-pointer">Earlier chats ({info.earlier.length})</summary>
        <ul className="mt-1 space-y-0.5">
          {info.earlier.map((e) => (
            <li key={e.roomId}>
              {new Date(e.startedAt).toLocaleDateString()} · {TOPIC_LABELS[e.queryType] ?? e.queryType} · {e.status}
              {e.agentName ? ` with ${e.agentName}` : ''}
              {e.rating ? ` · rated ${e.rating}/5` : ''}
            </li>
          ))}
        </ul>
      </details>
      {info.status === 'active' && (
        <div className="flex flex-wrap items-center gap-1">
          <label htmlFor={`transfer-${roomId}`}>Transfer to</label>
          <select
            id={`transfer-${roomId}`}
            value={target}
            onChange={(e) => setTarget(e.target.value)}
            className="rounded border border-chat-border bg-chat-bg px-1 py-0.5"
          >
            <option value="">choose…</option>
            <optgroup label="Agents available now">
              {info.transferTargets.map((t) => (
                <option key={t.id} value={`agent:${t.id}`}>
                  {t.name} ({t.department})
                </option>
              ))}
            </optgroup>
            <optgroup label="Departments">
              {DEPARTMENTS.map((d) => (
                <option key={d} value={`department:${d}`}>
                  {d}
                </option>
              ))}
            </optgroup>
          </select>
          <button type="button" className="rounded border border-chat-border px-2 py-0.5" disabled={!target} onClick={() => void transfer()}>
            Transfer
          </button>
          {status && (
            <span role="status" data-testid="transfer-status">
              {status}
            </span>
          )}
        </div>
      )}
    </aside>
  );
}
