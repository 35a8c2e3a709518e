/** The run page's reader of the live stream: event-stream text in, run views out. */
import { describe, expect, it } from 'vitest';
import { createEventParser } from '../src/live';
import type { RunView } from '../src/types';

const view = (status: string, published: number) => ({ runId: 'r1', status, published });

function parsed(chunks: string[]): unknown[] {
  const views: RunView[] = [];
  const parse = createEventParser((v) => views.push(v));
  for (const chunk of chunks) parse(chunk);
  return views;
}

describe('createEventParser', () => {
  it('reads each `event: run` as one view, in order', () => {
    const text =
      `event: run\ndata: ${JSON.stringify(view('running', 1))}\n\n` +
      `event: run\ndata: ${JSON.stringify(view('completed', 5))}\n\n`;
    expect(parsed([text])).toEqual([view('running', 1), view('completed', 5)]);
  });

  it('joins an event split across chunks, anywhere, and waits for its blank line', () => {
    const text = `event: run\ndata: ${JSON.stringify(view('running', 42))}\n\n`;
    for (let cut = 1; cut < text.length; cut++) {
      expect(parsed([text.slice(0, cut), text.slice(cut)])).toEqual([view('running', 42)]);
    }
    expect(parsed([text.slice(0, -1)])).toEqual([]);
  });

  it('skips heartbeat comments and other events, and reads CRLF line ends', () => {
    const text =
      ': heartbeat\n\n' +
      'event: other\ndata: {"ignored":true}\n\n' +
      `event: run\r\ndata: ${JSON.stringify(view('paused', 3))}\r\n\r\n`;
    expect(parsed([text])).toEqual([view('paused', 3)]);
  });

  it('joins a view sent over several data lines', () => {
    const text = 'event: run\ndata: {"runId":"r1",\ndata: "status":"failed","published":2}\n\n';
    expect(parsed([text])).toEqual([view('failed', 2)]);
  });
});
