'use client';

// The widget's pre-chat form (name, email, topic, first message; validated
// before anything is sent, the first invalid field focused), the quick
// actions that fill it, and the FAQ.
import React, { useRef, useState } from 'react';
import type { QueryType } from '@/lib/chat-types';
import { QUERY_TYPES, validatePreChat, type PreChatErrors } from '@/lib/validation';
import { Field } from './Field';
import { QUICK_ACTIONS, type Faq } from './faqs';

export interface PreChatFormProps {
  faqs: Faq[];
  queryType: QueryType;
  setQueryType: (q: QueryType) => void;
  busy: boolean;
  /** Starts the chat; resolves to an error message to show, or null. */
  onSubmit: (form: { name: string; email: string; queryType: QueryType; message?: string }) => Promise<string | null>;
}

export function PreChatForm({ faqs, queryType, setQueryType, busy, onSubmit }: PreChatFormProps) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [message, setMessage] = useState('');
  const [errors, setErrors] = useState<PreChatErrors>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const form = useRef<HTMLFormElement>(null);

  const submit = async () => {
    const errs = validatePreChat({ name, email, queryType, message });
    setErrors(errs);
    if (Object.keys(errs).length) {
      const first = (['name', 'email', 'queryType', 'message'] as const).find((k) => errs[k]);
      form.current?.querySelector<HTMLElement>(`[name="${first}"]`)?.focus();
      return;
    }
    setServerError(null);
    const err = await onSubmit({ name: name.trim(), email: email.trim(), queryType, message: message.trim() || undefined });
    if (err) setServerError(err);
  };

  return (
    <div className="min-h-0 flex-1 overflow-y-auto p-4">
      <form
        ref={form}
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
        className="space-y-3"
        aria-label="Start a support chat"
      >
        <p className="text-sm">Hi! Tell us a little about you and we will connect you with our team.</p>
        <Field id="prechat-name" label="Your name" error={errors.name}>
          {(control) => (
            <input {...control} name="name" data-autofocus value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" />
          )}
        </Field>
        <Field id="prechat-email" label="Email" error={errors.email}>
          {(control) => (
            <input
              {...control}
              name="email"
              type="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              autoComplete="email"
            />
          )}
        </Field>
        <Field id="prechat-topic" label="Topic">
          {(control) => (
            <select {...control} name="queryType" value={queryType} onChange={(e) => setQueryType(e.target.value as QueryType)}>
              {QUERY_TYPES.map((q) => (
                <option key={q.value} value={q.value}>
                  {q.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="prechat-message" label="How can we help? (optional)" error={errors.message}>
          {(control) => <textarea {...control} name="message" rows={2} value={message} onChange={(e) => setMessage(e.target.value)} />}
        </Field>
        {serverError && (
          <p role="alert" className="text-xs text-chat-error">
            {serverError}
          </p>
        )}
        <button
          type="submit"
          disabled={busy}
          className="w-full rounded-lg bg-chat-primary px-3 py-2 text-sm font-semibold text-chat-primary-contrast disabled:opacity-60 focus:outline-none focus-visible:ring-2 focus-visible:ring-offset-2 focus-visible:ring-chat-primary"
        >
          {busy ? 'Connecting…' : 'Start Chat'}
        </button>
      </form>
      <div className="mt-4">
        <h3 className="text-xs font-semibold uppercase text-chat-muted">Quick actions</h3>
        <div className="mt-1 flex flex-wrap gap-1">
          {QUICK_ACTIONS.map((a) => (
            <button
              key={a.label}
              type="button"
              className="rounded-full border border-chat-border px-2 py-1 text-xs hover:bg-chat-surface"
              onClick={() => {
                setQueryType(a.queryType);
                setMessage(a.message);
                form.current?.querySelector<HTMLElement>('[name="name"]')?.focus();
              }}
            >
              {a.label}
            </button>
          ))}
        </div>
      </div>
      {faqs.length > 0 && (
        <div className="mt-4">
          <h3 className="text-xs font-semibold uppercase text-chat-muted">Frequently asked questions</h3>
          <ul className="mt-1 space-y-1">
            {faqs.map((f) => (
              <li key={f.q}>
                <details className="rounded-lg border border-chat-border px-2 py-1 text-sm">
                  <summary className="cursor-pointer">{f.q}</summary>
                  <p className="mt-1 text-chat-muted">{f.a}</p>
                </details>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
