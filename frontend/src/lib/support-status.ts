// The support widget's one status line: what the visitor is told about who can
// answer, decided from the topic's department (not from every agent on the
// desk) and the chat's phase, so the header never says "2 agents online"
// while the chat says the team is away. Pure, so it is unit-tested alone.

import type { ConnectionStatus, QueryType } from './chat-types';

/** The department a topic reaches first (the gateway's `department_for`). */
export const TOPIC_DEPARTMENT: Record<QueryType, string> = {
  course_inquiry: 'sales',
  technical_support: 'support',
  billing: 'billing',
  other: 'general',
};

const TEAM_NAME: Record<string, string> = {
  sales: 'sales',
  support: 'support',
  billing: 'billing',
  general: '',
};

export type WidgetPhase = 'pre-chat' | 'connecting' | 'queued' | 'active' | 'ended';

/** online: someone can answer; waiting: in progress; away: nobody now; ended/offline as named. */
export type StatusTone = 'online' | 'waiting' | 'away' | 'ended' | 'offline';

export interface WidgetStatusInput {
  connection: ConnectionStatus;
  phase: WidgetPhase;
  /** The chat's department, or the one the chosen topic goes to. */
  department: string | null;
  agentsByDepartment: Record<string, number> | null;
  /** Every available agent (older gateways send only this). */
  agentsOnline: number | null;
  position?: number | null;
  agentName?: string | null;
}

export interface WidgetStatus {
  tone: StatusTone;
  text: string;
}

/** Agents who could answer `department` now; null when the gateway has not said. */
export function agentsFor(
  department: string | null,
  byDepartment: Record<string, number> | null,
  online: number | null,
): number | null {
  if (byDepartment && department) {
    const n = byDepartment[department];
    return typeof n === 'number' ? n : 0;
  }
  return online;
}

function team(department: string | null): string {
  const name = department ? TEAM_NAME[department] ?? department : '';
  return name ? `Our ${name} team` : 'Our team';
}

export function widgetStatus(input: WidgetStatusInput): WidgetStatus {
  const { connection, phase, department } = input;
  if (connection === 'offline') return { tone: 'offline', text: 'You are offline: messages will be sent when you reconnect' };
  if (phase === 'ended') return { tone: 'ended', text: 'Chat ended' };
  if (connection !== 'connected') return { tone: 'waiting', text: 'Connecting…' };
  if (phase === 'active') {
    return { tone: 'online', text: input.agentName ? `You are chatting with ${input.agentName}` : 'An agent is with you' };
  }
  const n = agentsFor(department, input.agentsByDepartment, input.agentsOnline);
  if (phase === 'queued') {
    if (n === 0) {
      // Still in the queue (an agent may come back), but nobody promises "shortly".
      const where = input.position ? ` (you are number ${input.position} in the queue)` : '';
      return { tone: 'away', text: `${team(department)} is away: we will answer by email${where}` };
    }
    return {
      tone: 'waiting',
      text: input.position
        ? `You are number ${input.position} in the queue. An agent will be with you shortly.`
        : 'Waiting for an agent…',
    };
  }
  if (phase === 'connecting') return { tone: 'waiting', text: 'Connecting…' };
  if (n === null) return { tone: 'waiting', text: 'We usually reply in a few minutes' };
  if (n === 0) return { tone: 'away', text: `${team(department)} is away: leave a message and we will email you` };
  return { tone: 'online', text: `${n} agent${n === 1 ? '' : 's'} online` };
}
