// Small files of every kind the gateway accepts or refuses, made in code, and
// an upload helper for POST /api/chat/attachments.
import { deflateSync } from 'node:zlib';
import { readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fetchT } from './gateway.mjs';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A valid RGB PNG of w × h pixels (a gradient). */
export function png(w, h) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    for (let x = 0; x < w; x++) {
      raw[row + 1 + x * 3] = x & 0xff;
      raw[row + 2 + x * 3] = y & 0xff;
      raw[row + 3 + x * 3] = 128;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export function pdf() {
  return Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');
}

/** ftyp + an mdat of `n` bytes (0..255 repeating), so ranges have known contents. */
export function mp4(n = 4096) {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypisom\0\0\x02\0isomiso2', 'latin1')]);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + n);
  head.write('mdat', 4, 'ascii');
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = i & 0xff;
  return Buffer.concat([ftyp, head, body]);
}

export function webm() {
  const seg = Buffer.alloc(300, 0xec);
  return Buffer.concat([
    Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x80 | 7, 0x42, 0x82, 0x84]), Buffer.from('webm'),
    Buffer.from([0x18, 0x53, 0x80, 0x67, 0x40 | (seg.length >> 8), seg.length & 0xff]), seg,
  ]);
}

/** The start of a Windows executable. */
export function exe() {
  const b = Buffer.alloc(512);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  return b;
}

export function zip() {
  const b = Buffer.alloc(22);
  b.write('PK\x05\x06', 0, 'latin1');
  return b;
}

export function elf() {
  const b = Buffer.alloc(64);
  b.write('\x7fELF\x02\x01\x01', 0, 'latin1');
  return b;
}

/**
 * POST a file as multipart. Returns { status, body, headers }.
 * `token` null sends no Authorization header.
 */
export async function upload(gw, token, bytes, name = 'file.bin', { type = 'application/octet-stream', field = 'file' } = {}) {
  const form = new FormData();
  form.append(field, new Blob([bytes], { type }), name);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetchT(`${gw.url}/api/chat/attachments`, { method: 'POST', body: form, headers }, 15000);
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  return { status: res.status, body, headers: res.headers };
}

export async function get(gw, pathOrUrl, { token, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  const res = await fetchT(new URL(pathOrUrl, gw.url).href, { headers: h });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, body, headers: res.headers };
}

/** Width and height from a baseline/progressive JPEG's SOF marker. */
export function jpegSize(buf) {
  if (buf[0] !== 0xff || buf[1] !== 0xd8) throw new Error('not a JPEG');
  let i = 2;
  while (i < buf.length) {
    if (buf[i] !== 0xff) { i++; continue; }
    const m = buf[i + 1];
    const len = buf.readUInt16BE(i + 2);
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    }
    i += 2 + len;
  }
  throw new Error('no SOF marker');
}

/** Every file under `dir`, recursively (none if it does not exist). */
export function filesUnder(dir) {
  const out = [];
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}
