import { DEFAULT_CHAT_URL } from './socket-client';

/**
 * The gateway URL as the server sees it at request time: CHAT_URL (read at
 * run time, so one build serves any gateway), else NEXT_PUBLIC_CHAT_URL (fixed
 * at build time), else http://localhost:3001.
 */
export function serverChatUrl(): string {
  return process.env.CHAT_URL || process.env.NEXT_PUBLIC_CHAT_URL || DEFAULT_CHAT_URL;
}
