/** Small pieces every page uses: progress, status, errors, loading. */
import type { ComponentChildren } from 'preact';
import { ApiError } from '../api';

/**
 * A run's (or a resource's) progress. `status` is the run's: a cancelled or failed run's bar does
 * not look like one under way or done (grey stripes, red), and says so in words, since what it
 * published stays published but the rest never will be.
 */
export function ProgressBar(props: { label: string; percent: number | null; status?: string }) {
  const { label, percent, status } = props;
  const value = percent ?? 0;
  const stopped = status === 'cancelled' || status === 'failed' ? status : null;
  const text = percent === null ? '…' : `${percent} %`;
  return (
    <div
      class={`progress${stopped ? ` progress-${stopped}` : ''}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent ?? undefined}
      aria-valuetext={`${percent === null ? 'not counted yet' : `${percent} %`}${stopped ? `, ${stopped}` : ''}`}
    >
      <div class="progress-fill" style={{ width: `${value}%` }} />
      <span class="progress-text">{stopped ? `${text} · ${stopped}` : text}</span>
    </div>
  );
}

export function Status({ status }: { status: string }) {
  return <span class={`status status-${status}`}>{status}</span>;
}

/** What went wrong, as the API said it (naming the field it refused). */
export const errorMessage = (error: unknown): string =>
  error instanceof ApiError
    ? `${error.message}${error.field ? ` (field: ${error.field})` : ''}`
    : error instanceof Error
      ? error.message
      : String(error);

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {errorMessage(error)}
    </p>
  );
}

export function Loading({ children }: { children?: ComponentChildren }) {
  return <p aria-live="polite">{children ?? 'Loading…'}</p>;
}
