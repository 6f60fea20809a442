// Who may start a conversation with whom (protocol §5, the seed's table).
// The gateway enforces it; the UI uses it to offer only allowed recipients.

import type { DirectoryUser, UserRole } from './chat-types';

/** The seed's routing map: the roles each role may start a conversation with. */
const ROUTING: Record<UserRole, Array<UserRole | 'all'>> = {
  public: ['support-agent'],
  student: ['instructor', 'support-agent'],
  instructor: ['admin', 'support-agent'],
  'support-agent': ['admin'],
  admin: ['all'],
};

export function determineChatRecipients(userRole: UserRole | string): Array<UserRole | 'all'> {
  return ROUTING[userRole as UserRole] ?? [];
}

export interface RoutingContext {
  /** Course ids the sender is enrolled in (students) or teaches (instructors). */
  courses?: Record<string, { instructors: string[]; students: string[] }>;
  /** For a support agent: the users it is assigned to. */
  assignedTo?: string[];
}

/**
 * May `sender` start a conversation with `recipient`? Public visitors only
 * ever reach an agent through the support form, so this is false for them.
 */
export function canStartConversation(
  sender: { id: string; role: UserRole },
  recipient: DirectoryUser,
  ctx: RoutingContext = {},
): boolean {
  if (sender.id === recipient.id) return false;
  if (sender.role === 'public') return false;
  const allowed = determineChatRecipients(sender.role);
  if (allowed.includes('all')) return true;
  if (sender.role === 'support-agent' && ctx.assignedTo?.includes(recipient.id)) return true;
  if (!allowed.includes(recipient.role)) return false;
  if (sender.role === 'student' && recipient.role === 'instructor' && ctx.courses) {
    return Object.values(ctx.courses).some(
      (c) => c.students.includes(sender.id) && c.instructors.includes(recipient.id),
    );
  }
  return true;
}

export function allowedRecipients(
  sender: { id: string; role: UserRole },
  candidates: DirectoryUser[],
  ctx: RoutingContext = {},
): DirectoryUser[] {
  return candidates.filter((c) => canStartConversation(sender, c, ctx));
}
