// The routing policy against the table shared with the gateway (Rust) and the
// Odoo addon (Python): tests/fixtures/routing-cases.json. One truth for three
// implementations, so they cannot drift.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canStartConversation, type RoutingContext } from '@/lib/chat-routing';
import type { UserRole } from '@/lib/chat-types';

interface RoutingCase {
  caller: { id: string; role: UserRole };
  target: { id: string; role: UserRole };
  relation: { targetTeachesCaller: boolean; callerAssignedToTarget: boolean };
  allowed: boolean;
  why: string;
}

// Vitest runs from frontend/ (its config's root); the table sits at the repository's root.
const tablePath = join(__dirname, '..', '..', 'tests', 'fixtures', 'routing-cases.json');
const cases: RoutingCase[] = JSON.parse(readFileSync(tablePath, 'utf8')).cases;

describe('the shared routing table', () => {
  it.each(cases.map((c) => [`${c.caller.id} → ${c.target.id}: ${c.allowed}`, c] as const))('%s', (_name, c) => {
    // The relation holds between this caller and target only.
    const ctx: RoutingContext = {
      courses: c.relation.targetTeachesCaller
        ? { course: { instructors: [c.target.id], students: [c.caller.id] } }
        : {},
      assignedTo: c.relation.callerAssignedToTarget ? [c.target.id] : [],
    };
    const target = { id: c.target.id, name: c.target.id, role: c.target.role };
    expect(canStartConversation(c.caller, target, ctx), c.why).toBe(c.allowed);
  });
});
