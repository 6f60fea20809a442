// A real SMTP server (npm smtp-server) on 127.0.0.1 for transcript tests, and a
// small MIME reader (multipart, base64, quoted-printable) to check what arrived.
import { SMTPServer } from 'smtp-server';
import { DEFAULT_TIMEOUT_MS } from './gateway.mjs';

export async function startSmtp() {
  const mails = [];
  const waiters = new Set();
  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const mail = {
          from: session.envelope.mailFrom && session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          ...parseMime(raw),
        };
        mails.push(mail);
        for (const w of [...waiters]) w();
        callback();
      });
    },
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.server.address().port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    /** Wait until `n` mails in total have arrived. */
    waitForMails(n, ms = DEFAULT_TIMEOUT_MS * 2) {
      if (mails.length >= n) return Promise.resolve(mails.slice(0, n));
      return new Promise((resolve, reject) => {
        const w = () => {
          if (mails.length >= n) { clearTimeout(t); waiters.delete(w); resolve(mails.slice(0, n)); }
        };
        const t = setTimeout(() => { waiters.delete(w); reject(new Error(`timed out waiting for ${n} mails, got ${mails.length}`)); }, ms);
        waiters.add(w);
      });
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

function parseHeaders(block) {
  const headers = {};
  const unfolded = block.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return headers;
}

function decodeWords(s) {
  // RFC 2047 encoded words in headers (Subject)
  return (s || '').replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=\s*/g, (_, cs, enc, text) => {
    if (enc.toLowerCase() === 'b') return Buffer.from(text, 'base64').toString('utf8');
    return decodeQP(text.replace(/_/g, ' '));
  });
}

function decodeQP(s) {
  const bytes = [];
  const str = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < str.length; i++) {
    if (str[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(str.slice(i + 1, i + 3))) {
      bytes.push(parseInt(str.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(str[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeBody(body, headers) {
  const cte = (headers['content-transfer-encoding'] || '').toLowerCase();
  if (cte === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable') return decodeQP(body);
  return body;
}

/** Parse a MIME message into { headers, subject, parts: [{ type, text }] } (leaf parts only). */
export function parseMime(raw) {
  const split = raw.search(/\r?\n\r?\n/);
  const headBlock = split >= 0 ? raw.slice(0, split) : raw;
  const body = split >= 0 ? raw.slice(split).replace(/^\r?\n\r?\n/, '') : '';
  const headers = parseHeaders(headBlock);
  const ctype = headers['content-type'] || 'text/plain';
  const parts = [];
  const m = ctype.match(/boundary="?([^";]+)"?/i);
  if (/^multipart\//i.test(ctype) && m) {
    const boundary = m[1];
    const segments = body.split(new RegExp(`\\r?\\n?--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*\\r?\\n?`));
    for (const seg of segments) {
      if (!seg.trim()) continue;
      const sub = parseMime(seg);
      if (!sub.headers['content-type'] && !Object.keys(sub.headers).length) continue;
      parts.push(...sub.parts);
    }
  } else {
    parts.push({ type: ctype.split(';')[0].trim().toLowerCase(), text: decodeBody(body, headers) });
  }
  return { headers, subject: decodeWords(headers.subject), parts };
}
