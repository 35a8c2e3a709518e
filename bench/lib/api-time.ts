/**
 * The API's own time for a route over a phase, from its `/metrics` histogram
 * (`hs_http_request_duration_seconds`): the buckets read before and after, and the 99th
 * percentile of the difference, as the upper bound of the bucket it falls in. Beside the
 * client's p99 it says how much of a request's latency the API itself spent; the rest is the
 * network stack and the wait for a core before the request reached its route.
 */
import { ROUTES } from '@historical-sync/contracts';

export type Buckets = Map<number, number>;

const TOGGLE = `route="${ROUTES.toggleApplication.path}",method="POST",code="2xx"`;

/** The toggle route's cumulative buckets (upper bound in ms → count) now. */
export async function toggleBuckets(base: string, headers: Record<string, string>) {
  const text = await (await fetch(`${base}/metrics`, { headers })).text();
  const buckets: Buckets = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('hs_http_request_duration_seconds_bucket{') || !line.includes(TOGGLE))
      continue;
    const le = line.match(/le="([^"]+)"/)?.[1];
    const count = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le) buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le) * 1000, count);
  }
  return buckets;
}

/** The bucket bound (ms) under which 99% of the requests between the two readings answered. */
export function p99Bound(before: Buckets, after: Buckets): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total =
    (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return Number.NaN;
  for (const bound of bounds) {
    const count = (after.get(bound) ?? 0) - (before.get(bound) ?? 0);
    if (count >= 0.99 * total) return bound;
  }
  return Number.POSITIVE_INFINITY;
}
