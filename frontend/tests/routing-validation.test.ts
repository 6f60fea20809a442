import { describe, expect, it } from 'vitest';
import { allowedRecipients, canStartConversation, determineChatRecipients } from '@/lib/chat-routing';
import { linkify, linkPreview, sanitizeContent, validateMessage, validatePreChat, validateUpload } from '@/lib/validation';
import { themeStylesheet, themeToCssVars } from '@/lib/chat-theme';
import type { DirectoryUser } from '@/lib/chat-types';

const users: DirectoryUser[] = [
  { id: '1', name: 'Ada', role: 'student' },
  { id: '2', name: 'Ian', role: 'instructor' },
  { id: '3', name: 'Other Instructor', role: 'instructor' },
  { id: '5', name: 'Sam', role: 'support-agent' },
  { id: '9', name: 'Root', role: 'admin' },
];

describe('determineChatRecipients (the seed table)', () => {
  it('maps each role', () => {
    expect(determineChatRecipients('public')).toEqual(['support-agent']);
    expect(determineChatRecipients('student')).toEqual(['instructor', 'support-agent']);
    expect(determineChatRecipients('instructor')).toEqual(['admin', 'support-agent']);
    expect(determineChatRecipients('admin')).toEqual(['all']);
    expect(determineChatRecipients('nobody')).toEqual([]);
  });

  it('a student reaches only its own instructors and agents', () => {
    const ctx = { courses: { py101: { instructors: ['2'], students: ['1'] } } };
    expect(allowedRecipients({ id: '1', role: 'student' }, users, ctx).map((u) => u.id)).toEqual(['2', '5']);
  });

  it('instructors reach admins and agents; agents their assigned users and admins', () => {
    expect(allowedRecipients({ id: '2', role: 'instructor' }, users).map((u) => u.id)).toEqual(['5', '9']);
    expect(allowedRecipients({ id: '5', role: 'support-agent' }, users, { assignedTo: ['1'] }).map((u) => u.id)).toEqual(['1', '9']);
  });

  it('admins reach everyone but themselves; visitors nobody directly', () => {
    expect(allowedRecipients({ id: '9', role: 'admin' }, users)).toHaveLength(4);
    expect(canStartConversation({ id: 'guest_1', role: 'public' }, users[3])).toBe(false);
  });
});

describe('validation', () => {
  it('pre-chat form: name 1–100 chars, email, known query type', () => {
    const ok = { name: 'Vera', email: 'vera@example.org', queryType: 'billing' };
    expect(validatePreChat(ok)).toEqual({});
    expect(validatePreChat({ ...ok, name: '   ' }).name).toBeDefined();
    expect(validatePreChat({ ...ok, name: 'x'.repeat(100) }).name).toBeUndefined();
    expect(validatePreChat({ ...ok, name: 'x'.repeat(101) }).name).toBeDefined();
    expect(validatePreChat({ ...ok, email: 'vera@' }).email).toBeDefined();
    expect(validatePreChat({ ...ok, email: '' }).email).toBeDefined();
    expect(validatePreChat({ ...ok, queryType: 'sales' }).queryType).toBeDefined();
  });

  it('messages: trimmed, control characters removed, size limited', () => {
    expect(sanitizeContent('  hi\u0007 there\n\tok  ')).toBe('hi there\n\tok');
    expect(validateMessage('   ')).toBe('Message is empty');
    expect(validateMessage('', 1)).toBeNull();
    expect(validateMessage('x'.repeat(4000))).toBeNull();
    expect(validateMessage('x'.repeat(4001))).toMatch(/4000/);
    expect(validateMessage('x', 11)).toMatch(/10/);
  });

  it('uploads: 10 MB and the accepted types', () => {
    expect(validateUpload({ size: 100, type: 'image/png' })).toBeNull();
    expect(validateUpload({ size: 10 * 1024 * 1024 + 1, type: 'image/png' })).toMatch(/10 MB/);
    expect(validateUpload({ size: 100, type: 'application/x-msdownload' })).toMatch(/not supported/);
  });

  it('links: only http(s), trailing punctuation left out, previews from the URL alone', () => {
    const parts = linkify('see https://example.org/a?b=1. and javascript:alert(1)');
    expect(parts.filter((p) => p.kind === 'link').map((p) => p.href)).toEqual(['https://example.org/a?b=1']);
    expect(parts.map((p) => p.text).join('')).toBe('see https://example.org/a?b=1. and javascript:alert(1)');
    expect(linkPreview('https://www.example.org/courses/iosh')).toEqual({ host: 'example.org', path: '/courses/iosh' });
    expect(linkPreview('javascript:alert(1)')).toBeNull();
  });
});

describe('chat theme', () => {
  it('exposes the seed colours as CSS variables, overridable', () => {
    const vars = themeToCssVars({ colors: { primary: '#ff0000' } });
    expect(vars['--chat-primary']).toBe('#ff0000');
    expect(vars['--chat-secondary']).toBe('#16a34a');
    expect(vars['--chat-font-body']).toMatch(/Inter/);
    expect(themeStylesheet(':root')).toMatch(/^:root\{--chat-primary:#0284c7;/);
  });
});
