'use client';

// The widget once a support chat has ended: the 1–5 rating with an optional
// comment, the transcript by email, and "Start a new chat".
import React, { useState } from 'react';
import { useChatActions } from '../ChatContext';
import { TranscriptButton } from './TranscriptButton';

export function EndedView({ roomId, email, onNew }: { roomId: string; email?: string; onNew: () => void }) {
  const chat = useChatActions();
  const [rating, setRating] = useState(0);
  const [comment, setComment] = useState('');
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="max-h-[55%] shrink-0 space-y-3 overflow-y-auto border-t border-chat-border p-4 text-sm" data-testid="chat-ended">
      <p className="font-medium">This chat has ended. Thank you for contacting us.</p>
      {done ? (
        <p role="status" data-testid="rating-thanks">
          Thanks for your feedback!
        </p>
      ) : (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            if (rating < 1) {
              setError('Please choose a rating');
              return;
            }
            const ack = await chat.rateSupport(roomId, rating, comment.trim() || undefined);
            if (ack.ok) setDone(true);
            else setError(ack.error.message);
          }}
        >
          <fieldset>
            <legend className="mb-1">How was your chat?</legend>
            <div className="flex gap-1" role="radiogroup" aria-label="Rating from 1 to 5">
              {[1, 2, 3, 4, 5].map((n) => (
                <button
                  key={n}
                  type="button"
                  role="radio"
                  aria-checked={rating === n}
                  aria-label={`${n} star${n > 1 ? 's' : ''}`}
                  onClick={() => setRating(n)}
                  className={`text-2xl ${n <= rating ? 'text-amber-400' : 'text-gray-300'} focus:outline-none focus-visible:ring-2 focus-visible:ring-chat-primary`}
                >
                  ★
                </button>
              ))}
            </div>
          </fieldset>
          <label htmlFor={`rate-comment-${roomId}`} className="mt-2 block text-xs text-chat-muted">
            Comment (optional)
          </label>
          <textarea
            id={`rate-comment-${roomId}`}
            value={comment}
            onChange={(e) => setComment(e.target.value)}
            maxLength={1000}
            className="mt-1 w-full rounded border border-chat-border p-2"
            rows={2}
          />
          {error && (
            <p role="alert" className="text-xs text-chat-error">
              {error}
            </p>
          )}
          <button type="submit" className="mt-2 rounded-lg bg-chat-primary px-3 py-1.5 text-chat-primary-contrast">
            Submit rating
          </button>
        </form>
      )}
      <div className="flex flex-wrap items-center justify-between gap-2 text-xs">
        <TranscriptButton roomId={roomId} email={email} />
        <button type="button" className="underline" onClick={onNew}>
          Start a new chat
        </button>
      </div>
    </div>
  );
}
