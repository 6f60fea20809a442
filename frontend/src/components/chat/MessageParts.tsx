'use client';

/**
 * What a message shows inside its bubble: the text with links (and a preview
 * of the first one) and its attachments (an image thumbnail or a file chip).
 */
import React, { useEffect, useMemo, useState } from 'react';
import type { Attachment } from '@/lib/chat-types';
import { attachmentHref } from '@/lib/uploads';
import { linkPreview, linkify } from '@/lib/validation';

export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function MessageContent({ text }: { text: string }) {
  const parts = useMemo(() => linkify(text), [text]);
  const firstLink = parts.find((p) => p.kind === 'link');
  const preview = firstLink?.href ? linkPreview(firstLink.href) : null;
  return (
    <>
      <p className="whitespace-pre-wrap break-words">
        {parts.map((p, i) =>
          p.kind === 'link' ? (
            <a key={i} href={p.href} target="_blank" rel="noopener noreferrer nofollow ugc" className="underline">
              {p.text}
            </a>
          ) : (
            <React.Fragment key={i}>{p.text}</React.Fragment>
          ),
        )}
      </p>
      {preview && firstLink?.href && (
        <a
          href={firstLink.href}
          target="_blank"
          rel="noopener noreferrer nofollow ugc"
          className="mt-1 block rounded-md border border-chat-border bg-chat-bg/80 px-2 py-1 text-xs text-chat-text"
          data-testid="link-preview"
        >
          <span className="block font-semibold">{preview.host}</span>
          <span className="block truncate text-chat-muted">{preview.path}</span>
        </a>
      )}
    </>
  );
}

export function AttachmentView({ att, baseUrl }: { att: Attachment; baseUrl: string }) {
  const href = attachmentHref(baseUrl, att.url);
  const thumb = att.thumbnailUrl ? attachmentHref(baseUrl, att.thumbnailUrl) : null;
  const [src, setSrc] = useState(thumb ?? href);
  useEffect(() => setSrc(thumb ?? href), [thumb, href]);
  if (att.mimeType?.startsWith('image/')) {
    return (
      <a href={href} target="_blank" rel="noopener noreferrer" className="mt-1 block" data-testid="attachment">
        {/* The preview is the gateway's thumbnail when it made one, else the file. */}
        {/* eslint-disable-next-line @next/next/no-img-element */}
        <img
          src={src}
          alt={att.name}
          className="max-h-48 max-w-full rounded-md"
          loading="lazy"
          onError={() => {
            if (src !== href) setSrc(href);
          }}
        />
      </a>
    );
  }
  return (
    <a
      href={href}
      target="_blank"
      rel="noopener noreferrer"
      className="mt-1 flex items-center gap-2 rounded-md border border-chat-border bg-chat-bg px-2 py-1 text-xs text-chat-text"
      data-testid="attachment"
    >
      <span aria-hidden="true">📎</span>
      <span className="truncate">{att.name}</span>
      <span className="text-chat-muted">{formatBytes(att.size)}</span>
    </a>
  );
}
