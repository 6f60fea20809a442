'use client';

/**
 * The message input of a room: draft kept per room (and shared between tabs),
 * typing signals, emoji picker, attachments with upload progress, replies.
 */
import React, { useCallback, useEffect, useRef, useState } from 'react';
import { useChat } from './ChatContext';
import type { Attachment, UiMessage } from '@/lib/chat-types';
import { PaperclipIcon, SmileIcon } from './icons';
import { PICKER_EMOJIS } from './emojis';
import { MAX_ATTACHMENTS, validateMessage, validateUpload } from '@/lib/validation';

interface PendingUpload {
  key: string;
  name: string;
  progress: number;
  attachment?: Attachment;
  error?: string;
}

export interface ComposerProps {
  roomId: string;
  replyTo?: UiMessage | null;
  onCancelReply?: () => void;
  disabled?: boolean;
  placeholder?: string;
  /** Files dropped on the surrounding window. */
  droppedFiles?: File[] | null;
  onDroppedHandled?: () => void;
}

export function Composer({ roomId, replyTo, onCancelReply, disabled, placeholder, droppedFiles, onDroppedHandled }: ComposerProps) {
  const chat = useChat();
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [showEmoji, setShowEmoji] = useState(false);
  const [uploads, setUploads] = useState<PendingUpload[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);
  const textRef = useRef<HTMLTextAreaElement>(null);
  const idleTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const { getDraft, setDraft, draftVersion, startTyping, stopTyping } = chat;
  const sessionId = chat.session?.userId;

  // Drafts: restored per room, kept in step across tabs.
  useEffect(() => {
    setText(getDraft(roomId));
  }, [roomId, getDraft, draftVersion, sessionId]);

  useEffect(
    () => () => {
      if (idleTimer.current) clearTimeout(idleTimer.current);
    },
    [],
  );

  const addFiles = useCallback(
    (files: File[]) => {
      for (const file of files.slice(0, MAX_ATTACHMENTS)) {
        const key = `${file.name}-${file.size}-${Math.random().toString(36).slice(2)}`;
        const invalid = validateUpload(file);
        if (invalid) {
          setUploads((u) => [...u, { key, name: file.name, progress: 0, error: invalid }]);
          continue;
        }
        setUploads((u) => [...u, { key, name: file.name, progress: 0 }]);
        chat
          .upload(file, (p) => setUploads((u) => u.map((x) => (x.key === key ? { ...x, progress: p } : x))))
          .then((attachment) => setUploads((u) => u.map((x) => (x.key === key ? { ...x, progress: 1, attachment } : x))))
          .catch((e: Error) => setUploads((u) => u.map((x) => (x.key === key ? { ...x, error: e.message } : x))));
      }
    },
    [chat],
  );

  useEffect(() => {
    if (droppedFiles && droppedFiles.length) {
      addFiles(droppedFiles);
      onDroppedHandled?.();
    }
  }, [droppedFiles, addFiles, onDroppedHandled]);

  const ready = uploads.filter((u) => u.attachment).map((u) => u.attachment as Attachment);
  const busy = uploads.some((u) => !u.attachment && !u.error);

  const submit = async () => {
    const problem = validateMessage(text, ready.length);
    if (problem) {
      if (text.trim() || ready.length) setError(problem);
      return;
    }
    if (busy) {
      setError('Wait for the upload to finish');
      return;
    }
    setError(null);
    const content = text;
    setText('');
    setDraft(roomId, '');
    setUploads([]);
    onCancelReply?.();
    stopTyping(roomId);
    try {
      await chat.sendMessage({ roomId, content, attachments: ready, parentId: replyTo?.id ?? null });
    } catch (e) {
      setError((e as Error).message);
      setText(content);
    }
    textRef.current?.focus();
  };

  const onChange = (value: string) => {
    setText(value);
    setDraft(roomId, value);
    if (value.trim()) startTyping(roomId);
    if (idleTimer.current) clearTimeout(idleTimer.current);
    idleTimer.current = setTimeout(() => stopTyping(roomId), 3000);
  };

  const inputId = `composer-${roomId}`;
  return (
    <form
      className="border-t border-chat-border bg-chat-bg p-2"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {replyTo && (
        <div className="mb-1 flex items-center justify-between rounded bg-chat-surface px-2 py-1 text-xs text-chat-muted">
          <span className="truncate">
            Replying to {replyTo.authorName}: {replyTo.content.slice(0, 60)}
          </span>
          <button type="button" onClick={onCancelReply} aria-label="Cancel reply" className="ml-2">
            ✕
          </button>
        </div>
      )}
      {uploads.length > 0 && (
        <ul className="mb-1 space-y-1" aria-label="Attachments">
          {uploads.map((u) => (
            <li key={u.key} className="flex items-center gap-2 text-xs" data-testid="upload">
              <span className="truncate">{u.name}</span>
              {u.error ? (
                <span role="alert" className="text-chat-error">
                  {u.error}
                </span>
              ) : (
                <progress max={1} value={u.progress} aria-label={`Uploading ${u.name}`} className="h-1.5 w-20" />
              )}
              {u.attachment && <span className="text-chat-success">Ready</span>}
              <button
                type="button"
                aria-label={`Remove ${u.name}`}
                onClick={() => setUploads((all) => all.filter((x) => x.key !== u.key))}
              >
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="flex items-end gap-1">
        <input
          ref={fileInput}
          type="file"
          multiple
          className="sr-only"
          tabIndex={-1}
          aria-hidden="true"
          data-testid="file-input"
          onChange={(e) => {
            const files = Array.from(e.target.files ?? []);
            e.target.value = '';
            addFiles(files);
          }}
        />
        <button
          type="button"
          onClick={() => fileInput.current?.click()}
          className="rounded-full p-2 text-chat-muted hover:bg-chat-surface focus:outline-none focus-visible:ring-2 focus-visible:ring-chat-primary"
          aria-label="Attach a file"
          disabled={disabled}
        >
          <PaperclipIcon />
        </button>
        <div className="relative">
          <button
            type="button"
            onClick={() => setShowEmoji((s) => !s)}
            className="rounded-full p-2 text-chat-muted hover:bg-chat-surface focus:outline-none focus-visible:ring-2 focus-visible:ring-chat-primary"
            aria-label="Insert emoji"
            aria-expanded={showEmoji}
            disabled={disabled}
          >
            <SmileIcon />
          </button>
          {showEmoji && (
            <div
              role="group"
              aria-label="Emoji"
              className="absolute bottom-10 left-0 z-10 grid w-56 grid-cols-8 gap-1 rounded-lg border border-chat-border bg-chat-bg p-2 shadow-lg"
              onKeyDown={(e) => {
                if (e.key === 'Escape') {
                  setShowEmoji(false);
                  textRef.current?.focus();
                }
              }}
            >
              {PICKER_EMOJIS.map((e) => (
                <button
                  key={e}
                  type="button"
                  aria-label={`Insert ${e}`}
                  onClick={() => {
                    onChange(text + e);
                    setShowEmoji(false);
                    textRef.current?.focus();
                  }}
                >
                  {e}
                </button>
              ))}
            </div>
          )}
        </div>
        <label htmlFor={inputId} className="sr-only">
          Message
        </label>
        <textarea
          id={inputId}
          ref={textRef}
          rows={1}
          value={text}
          disabled={disabled}
          placeholder={placeholder ?? 'Type a message…'}
          onChange={(e) => onChange(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              void submit();
            }
          }}
          onBlur={() => stopTyping(roomId)}
          className="max-h-32 min-h-[2.5rem] flex-1 resize-none rounded-xl border border-chat-border bg-chat-bg px-3 py-2 text-sm text-chat-text focus:outline-none focus:ring-2 focus:ring-chat-primary"
        />
        <button
          type="submit"
          disabled={disabled}
          className="rounded-xl bg-chat-primary px-3 py-2 text-sm font-medium text-chat-primary-contrast disabled:opacity-50 focus:outline-none focus-visible:ring-2 focus-visible:ring-offset-2 focus-visible:ring-chat-primary"
        >
          Send
        </button>
      </div>
      {error && (
        <p role="alert" className="mt-1 text-xs text-chat-error">
          {error}
        </p>
      )}
    </form>
  );
}
