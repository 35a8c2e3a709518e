/**
 * Follows one run as it changes. Reads the run's live stream (`text/event-stream`) with fetch
 * and a stream reader, since EventSource cannot send the Authorization header. Where the stream
 * cannot be had (an older API, too many streams open: 429) or ends before the run has ended, it
 * reads the run every POLL_MS instead, so the page updates on its own either way.
 */
import { ENDED_RUN_STATUSES } from '@historical-sync/contracts/run-vocabulary';
import type { Api } from './api';
import type { RunView } from './types';

const POLL_MS = 1000;

/** The `data` of each `event: run` in a chunked event stream; comments (heartbeats) skipped. */
export function createEventParser(onRun: (view: RunView) => void) {
  let buffer = '';
  return (chunk: string) => {
    buffer += chunk.replace(/\r\n?/g, '\n');
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'event') event = value;
        else if (name === 'data') data.push(value);
      }
      if (event === 'run' && data.length) onRun(JSON.parse(data.join('\n')) as RunView);
      end = buffer.indexOf('\n\n');
    }
  };
}

const isEnded = (view: RunView | null) => view !== null && ENDED_RUN_STATUSES.includes(view.status);

/** Calls `onView` with each new view of the run until `signal` aborts. */
export async function watchRun(
  api: Api,
  params: { orgId: string; runId: string },
  onView: (view: RunView) => void,
  onError: (error: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  let last: RunView | null = null;
  const seen = (view: RunView) => {
    last = view;
    onView(view);
  };
  try {
    const response = await api.open('watchRun', { params, signal });
    if (response.ok && response.body) {
      const parse = createEventParser(seen);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parse(value);
      }
    }
  } catch {
    if (signal.aborted) return;
    // A dropped stream is not the page's error: polling below takes over.
  }
  // Polled until aborted: an ended run can still change (a retry starts a failed one again).
  while (!signal.aborted) {
    try {
      const view = await api.call('getRun', { params, signal });
      if (JSON.stringify(view) !== JSON.stringify(last)) seen(view);
    } catch (error) {
      if (signal.aborted) return;
      onError(error);
    }
    await new Promise((resolve) => setTimeout(resolve, isEnded(last) ? POLL_MS * 3 : POLL_MS));
  }
}
