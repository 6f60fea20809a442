'use client';

// One labelled form control of the widget with its error line: the label is
// tied to the control, and an error marks the control invalid and is read
// with it (aria-describedby), the same way for every field.
import React from 'react';

/** The look every widget input, select and textarea shares. */
export const FIELD_CLASS =
  'mt-1 w-full rounded-lg border border-chat-border bg-chat-bg px-3 py-2 text-sm focus:outline-none focus:ring-2 focus:ring-chat-primary';

/** The attributes the control must carry (spread them onto it). */
export interface FieldControlProps {
  id: string;
  className: string;
  'aria-invalid': boolean;
  'aria-describedby': string | undefined;
}

export interface FieldProps {
  id: string;
  label: string;
  error?: string;
  /** Renders the control with the given attributes. */
  children: (control: FieldControlProps) => React.ReactNode;
}

export function Field({ id, label, error, children }: FieldProps) {
  const errorId = `${id}-error`;
  return (
    <div>
      <label htmlFor={id} className="text-xs font-medium">
        {label}
      </label>
      {children({ id, className: FIELD_CLASS, 'aria-invalid': !!error, 'aria-describedby': error ? errorId : undefined })}
      {error && (
        <p id={errorId} className="mt-0.5 text-xs text-chat-error">
          {error}
        </p>
      )}
    </div>
  );
}
