// Client-side checks that mirror the gateway's limits, so the user hears
// about a problem before anything is sent.

import type { QueryType } from './chat-types';

export const MAX_CONTENT_CHARS = 4000;
export const MAX_ATTACHMENTS = 10;
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
export const QUERY_TYPES: Array<{ value: QueryType; label: string }> = [
  { value: 'course_inquiry', label: 'Course inquiry' },
  { value: 'technical_support', label: 'Technical support' },
  { value: 'billing', label: 'Billing' },
  { value: 'other', label: 'Other' },
];

export const ALLOWED_UPLOAD_TYPES = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'application/pdf',
  'video/mp4',
  'video/webm',
  'text/plain',
];

export interface PreChatForm {
  name: string;
  email: string;
  queryType: string;
  message?: string;
}

export type PreChatErrors = Partial<Record<'name' | 'email' | 'queryType' | 'message', string>>;

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function isValidEmail(email: string): boolean {
  return email.length <= 254 && EMAIL_RE.test(email);
}

export function validatePreChat(form: PreChatForm): PreChatErrors {
  const errors: PreChatErrors = {};
  const name = form.name.trim();
  if (name.length < 1) errors.name = 'Please enter your name';
  else if (name.length > 100) errors.name = 'Name must be 100 characters or fewer';
  const email = form.email.trim();
  if (!email) errors.email = 'Please enter your email';
  else if (!isValidEmail(email)) errors.email = 'Please enter a valid email address';
  if (!QUERY_TYPES.some((q) => q.value === form.queryType)) errors.queryType = 'Please choose a topic';
  if (form.message && form.message.trim().length > MAX_CONTENT_CHARS) {
    errors.message = `Message must be ${MAX_CONTENT_CHARS} characters or fewer`;
  }
  return errors;
}

/** Trims and strips control characters other than newline and tab, as the gateway does. */
export function sanitizeContent(content: string): string {
  // eslint-disable-next-line no-control-regex
  return content.trim().replace(/[\u0000-\u0008\u000B-\u001F\u007F]/g, '');
}

export function validateMessage(content: string, attachmentCount = 0): string | null {
  const clean = sanitizeContent(content);
  if (!clean && attachmentCount === 0) return 'Message is empty';
  if (clean.length > MAX_CONTENT_CHARS) return `Message must be ${MAX_CONTENT_CHARS} characters or fewer`;
  if (attachmentCount > MAX_ATTACHMENTS) return `At most ${MAX_ATTACHMENTS} attachments`;
  return null;
}

export function validateUpload(file: { size: number; type: string }): string | null {
  if (file.size > MAX_UPLOAD_BYTES) return 'File is larger than 10 MB';
  if (file.type && !ALLOWED_UPLOAD_TYPES.includes(file.type)) return 'This file type is not supported';
  return null;
}

export interface LinkPart {
  kind: 'text' | 'link';
  text: string;
  href?: string;
}

/**
 * Splits text into plain parts and http(s) links. Only http and https become
 * links (never javascript: or data:); nothing is fetched.
 */
export function linkify(text: string): LinkPart[] {
  const parts: LinkPart[] = [];
  const re = /\bhttps?:\/\/[^\s<>"']+/gi;
  let last = 0;
  let m: RegExpExecArray | null;
  let guard = 0;
  while ((m = re.exec(text)) !== null && guard++ < 200) {
    let url = m[0];
    const trailing = url.match(/[.,;:!?)\]]+$/);
    if (trailing) url = url.slice(0, -trailing[0].length);
    if (m.index > last) parts.push({ kind: 'text', text: text.slice(last, m.index) });
    try {
      const u = new URL(url);
      if (u.protocol === 'http:' || u.protocol === 'https:') parts.push({ kind: 'link', text: url, href: u.href });
      else parts.push({ kind: 'text', text: url });
    } catch {
      parts.push({ kind: 'text', text: url });
    }
    last = m.index + url.length;
    re.lastIndex = last;
  }
  if (last < text.length) parts.push({ kind: 'text', text: text.slice(last) });
  return parts;
}

/** A preview built from the URL alone: host and path, no third-party fetch. */
export function linkPreview(href: string): { host: string; path: string } | null {
  try {
    const u = new URL(href);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return { host: u.hostname.replace(/^www\./, ''), path: decodeURIComponent(u.pathname + u.search).slice(0, 80) };
  } catch {
    return null;
  }
}
