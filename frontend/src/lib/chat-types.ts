// Wire types of the seitech-chat protocol (shared/spec/protocol.md, v1).

export type UserRole = 'public' | 'student' | 'instructor' | 'admin' | 'support-agent';

export type ConversationType = 'direct' | 'group' | 'support' | 'channel';

export type QueryType = 'course_inquiry' | 'technical_support' | 'billing' | 'other';

export interface Attachment {
  id: string;
  name: string;
  mimeType: string;
  size: number;
  /** A signed URL (usable as it is, e.g. in `<img src>`); re-signed in history and sync. */
  url: string;
  /** A small JPEG preview of an image, signed like `url`. */
  thumbnailUrl?: string | null;
}

export interface ChatMessage {
  id: string;
  roomId: string;
  authorId: string;
  authorName: string;
  content: string;
  type: 'text' | 'file' | 'system';
  attachments: Attachment[];
  parentId: string | null;
  clientId?: string | null;
  createdAt: string;
  editedAt: string | null;
  /** Set by the gateway in `sync` results for a deleted message. */
  deleted?: boolean;
  deletedAt?: string | null;
  reactions?: Record<string, string[]>;
}

/** A message as the UI holds it: a server message, or one waiting in the outbox. */
export interface UiMessage extends ChatMessage {
  status: 'pending' | 'sent' | 'failed';
  error?: string;
}

export interface Participant {
  id: string;
  name: string;
  role: UserRole;
  online?: boolean;
}

export interface Conversation {
  id: string;
  type: ConversationType;
  name: string | null;
  participants: Participant[];
  unreadCount: number;
  lastMessage: ChatMessage | null;
  status?: string;
  /** Support chats only: the visitor and where the chat stands (docs/protocol.md, Additions). */
  support?: SupportInfo | null;
  createdAt?: string;
  lastActivityAt?: string;
}

export interface SupportInfo {
  visitorId: string;
  visitorName: string;
  visitorEmail: string;
  queryType: string;
  department: string;
  agentId: string | null;
  /** ISO-8601. */
  startedAt: string;
  endedAt: string | null;
  rating: number | null;
}

export interface Session {
  userId: string;
  name: string;
  role: UserRole;
  guestToken?: string;
}

export interface AckError {
  code:
    | 'unauthorized'
    | 'forbidden'
    | 'not_found'
    | 'invalid'
    | 'rate_limited'
    | 'too_large'
    | 'conflict'
    | 'unavailable'
    | 'timeout'
    | 'offline';
  message: string;
}

export type Ack<T> = ({ ok: true } & T) | { ok: false; error: AckError };

export interface DirectoryUser {
  id: string;
  name: string;
  role: UserRole;
  online?: boolean;
}

export type SupportStatus =
  | { state: 'queued'; position: number | null }
  | { state: 'active'; agent: { id: string; name: string } | null }
  | { state: 'ended' };

export type ConnectionStatus = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'offline' | 'auth_failed';
