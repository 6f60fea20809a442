import { describe, expect, it } from 'vitest';
import { attachmentHref } from '@/lib/uploads';

describe('attachmentHref', () => {
  const base = 'https://chat.example.org';

  it('makes the gateway\'s paths absolute and keeps web links', () => {
    expect(attachmentHref(base, '/api/chat/attachments/a1?exp=1&sig=x')).toBe(
      'https://chat.example.org/api/chat/attachments/a1?exp=1&sig=x',
    );
    expect(attachmentHref(base, 'https://odoo.example.org/web/content/77')).toBe('https://odoo.example.org/web/content/77');
  });

  it('never hands out a link that would run script or is not a URL', () => {
    expect(attachmentHref(base, 'javascript:alert(1)')).toBe('about:blank');
    expect(attachmentHref(base, 'JaVaScRiPt:alert(1)')).toBe('about:blank');
    expect(attachmentHref(base, 'data:text/html,<script>alert(1)</script>')).toBe('about:blank');
    expect(attachmentHref('not a base', 'also not a url')).toBe('about:blank');
  });
});
