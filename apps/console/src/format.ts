/** How the console writes numbers, instants and durations. */
import { formatBytes } from '@historical-sync/client';

export const count = (n: number | null | undefined) =>
  n === null || n === undefined ? '—' : n.toLocaleString('en-US');

export const instant = (iso: string | null | undefined) =>
  iso
    ? new Date(iso)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')
    : '—';

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export const rate = (n: number | null | undefined) =>
  n === null || n === undefined
    ? '—'
    : `${n.toLocaleString('en-US', { maximumFractionDigits: 1 })}/s`;

export const shortId = (id: string) => id.slice(0, 8);

/** `512 B`, `3.4 MiB`, `12 GiB` (the client's formatBytes), `—` when unknown. */
export const bytes = (n: number | null | undefined): string =>
  n === null || n === undefined ? '—' : formatBytes(n);

/** `80 %` from a ratio (0.8). */
export const percent = (ratio: number) =>
  `${(ratio * 100).toLocaleString('en-US', { maximumFractionDigits: 1 })} %`;
