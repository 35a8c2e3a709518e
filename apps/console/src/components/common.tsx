/** Small pieces every page uses: progress, status, errors, loading. */
import type { ComponentChildren } from 'preact';
import { ApiError } from '../api';

export function ProgressBar({ label, percent }: { label: string; percent: number | null }) {
  const value = percent ?? 0;
  return (
    <div
      class="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent ?? undefined}
      aria-valuetext={percent === null ? 'not counted yet' : `${percent} %`}
    >
      <div class="progress-fill" style={{ width: `${value}%` }} />
      <span class="progress-text">{percent === null ? '…' : `${percent} %`}</span>
    </div>
  );
}

export function Status({ status }: { status: string }) {
  return <span class={`status status-${status}`}>{status}</span>;
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message =
    error instanceof ApiError
      ? `${error.message}${error.field ? ` (field: ${error.field})` : ''}`
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <p class="error" role="alert">
      {message}
    </p>
  );
}

export function Loading({ children }: { children?: ComponentChildren }) {
  return <p aria-live="polite">{children ?? 'Loading…'}</p>;
}
