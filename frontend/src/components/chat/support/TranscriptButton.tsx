'use client';

// "Email me the transcript" in the widget: asks the gateway to mail the chat
// (to the pre-chat email) and says how that went.
import React, { useState } from 'react';
import { useChatActions } from '../ChatContext';

export function TranscriptButton({ roomId, email }: { roomId: string; email?: string }) {
  const chat = useChatActions();
  const [status, setStatus] = useState<string | null>(null);
  return (
    <span className="flex items-center gap-2">
      <button
        type="button"
        className="text-chat-primary underline"
        onClick={async () => {
          setStatus('Sending…');
          const ack = await chat.requestTranscript(roomId, email);
          setStatus(ack.ok ? `Transcript sent${email ? ` to ${email}` : ''}` : `Could not send the transcript: ${ack.error.message}`);
        }}
      >
        Email me the transcript
      </button>
      {status && (
        <span role="status" data-testid="transcript-status">
          {status}
        </span>
      )}
    </span>
  );
}
