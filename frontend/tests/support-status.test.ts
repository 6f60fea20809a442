import { describe, expect, it } from 'vitest';
import { TOPIC_DEPARTMENT, agentsFor, widgetStatus, type WidgetStatusInput } from '@/lib/support-status';

const base: WidgetStatusInput = {
  connection: 'connected',
  phase: 'pre-chat',
  department: 'billing',
  agentsByDepartment: { sales: 1, support: 2, billing: 0, general: 1 },
  agentsOnline: 2,
};

describe('the widget status line', () => {
  it('speaks for the chosen topic’s department, not for the whole desk', () => {
    // Two agents online, none for billing: away, not "2 agents online".
    expect(widgetStatus(base)).toEqual({ tone: 'away', text: 'Our billing team is away: leave a message and we will email you' });
    expect(widgetStatus({ ...base, department: TOPIC_DEPARTMENT.technical_support })).toEqual({ tone: 'online', text: '2 agents online' });
    expect(widgetStatus({ ...base, department: TOPIC_DEPARTMENT.course_inquiry }).text).toBe('1 agent online');
  });

  it('a department the gateway did not list has nobody; an older gateway’s global count is used as it is', () => {
    expect(agentsFor('marketing', { sales: 1 }, 5)).toBe(0);
    expect(agentsFor('sales', null, 3)).toBe(3);
    expect(widgetStatus({ ...base, agentsByDepartment: null, agentsOnline: null }).text).toBe('We usually reply in a few minutes');
  });

  it('queued: the live position while someone can come, the away notice alone when nobody can', () => {
    expect(widgetStatus({ ...base, phase: 'queued', department: 'support', position: 3 }).text).toBe(
      'You are number 3 in the queue. An agent will be with you shortly.',
    );
    const away = widgetStatus({ ...base, phase: 'queued', department: 'billing', position: 1 });
    expect(away.tone).toBe('away');
    expect(away.text).not.toMatch(/shortly/);
  });

  it('assigned and ended override availability; offline and connecting are said as such', () => {
    expect(widgetStatus({ ...base, phase: 'active', agentName: 'Bea Billing' })).toEqual({ tone: 'online', text: 'You are chatting with Bea Billing' });
    expect(widgetStatus({ ...base, phase: 'ended' })).toEqual({ tone: 'ended', text: 'Chat ended' });
    expect(widgetStatus({ ...base, connection: 'offline' }).tone).toBe('offline');
    expect(widgetStatus({ ...base, connection: 'connecting' }).text).toBe('Connecting…');
  });
});
