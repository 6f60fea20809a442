// Attachment uploads: POST /api/chat/attachments (multipart, Bearer token),
// with progress. A gateway without the route (404) is reported plainly.

import type { Attachment } from './chat-types';

export class UploadError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export function uploadAttachment(
  baseUrl: string,
  token: string | null | undefined,
  file: File,
  onProgress?: (fraction: number) => void,
): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${baseUrl.replace(/\/$/, '')}/api/chat/attachments`);
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.timeout = 120000;
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && onProgress) onProgress(ev.loaded / ev.total);
    };
    xhr.onload = () => {
      if (xhr.status === 404) return reject(new UploadError('File uploads are not available on this server yet', 404));
      if (xhr.status === 413) return reject(new UploadError('File is too large', 413));
      if (xhr.status === 415) return reject(new UploadError('This file type is not supported', 415));
      if (xhr.status < 200 || xhr.status >= 300) return reject(new UploadError(`Upload failed (${xhr.status})`, xhr.status));
      try {
        const body = JSON.parse(xhr.responseText) as Attachment | { attachment: Attachment };
        const att = 'attachment' in body ? body.attachment : body;
        if (!att || typeof att.id !== 'string') throw new Error('bad body');
        onProgress?.(1);
        resolve(att);
      } catch {
        reject(new UploadError('Unexpected answer from the upload service', xhr.status));
      }
    };
    xhr.onerror = () => reject(new UploadError('Upload failed: network error', 0));
    xhr.ontimeout = () => reject(new UploadError('Upload timed out', 0));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/**
 * Absolute URL of an attachment (the gateway may answer with a path). Only
 * http(s) links come out: the result goes into href and src, where a
 * `javascript:` URL would run. Anything else becomes `about:blank`.
 */
export function attachmentHref(baseUrl: string, url: string): string {
  try {
    const href = new URL(url, baseUrl);
    return href.protocol === 'http:' || href.protocol === 'https:' ? href.href : 'about:blank';
  } catch {
    return 'about:blank';
  }
}
