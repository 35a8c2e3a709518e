/**
 * An open-loop load: requests sent at a steady pace (one every 1000/rate ms) whatever the answers
 * do, each latency counted from the moment the request was due. Closed-loop tools that fire a
 * second's requests back to back and then wait (autocannon's rate option) measure a burst at full
 * speed instead of the rate asked for, and hide the queueing a late request suffers.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { percentile } from './stats';

export interface PacedLoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Requests per second. */
  rate: number;
  seconds: number;
}

export interface PacedLoadResult {
  sent: number;
  /** Answers per second over the run. */
  achievedRate: number;
  non2xx: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
  /** Requests slower than 50 ms: [when each was due (epoch ms), its latency (ms)]. */
  slow: Array<[number, number]>;
}

/** A latency above this is a stall worth explaining (the idle p99 is under 20 ms). */
const SLOW_MS = 50;

export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const url = new URL(options.url);
  const latencies: number[] = [];
  const slow: Array<[number, number]> = [];
  let non2xx = 0;
  let errors = 0;
  const inFlight = new Set<Promise<void>>();

  const send = (dueAt: number) => {
    const done = new Promise<void>((resolve) => {
      const req = request(
        url,
        { method: options.method ?? 'GET', headers: options.headers, agent },
        (response) => {
          response.resume();
          response.once('end', () => {
            const latency = performance.now() - dueAt;
            latencies.push(latency);
            if (latency > SLOW_MS) slow.push([performance.timeOrigin + dueAt, latency]);
            if ((response.statusCode ?? 0) >= 300) non2xx += 1;
            resolve();
          });
        },
      );
      req.once('error', () => {
        errors += 1;
        resolve();
      });
      req.end(options.body);
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };

  const interval = 1000 / options.rate;
  const start = performance.now();
  const total = Math.round(options.rate * options.seconds);
  let sent = 0;
  while (sent < total) {
    // Send every request that is due; a late loop sends the backlog at once, its latency counted
    // from when each was due.
    const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
    for (; sent < due; sent++) send(start + sent * interval);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, interval / 2)));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    sent,
    achievedRate: latencies.length / seconds,
    non2xx,
    errors,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
    slow: slow.sort((a, b) => a[0] - b[0]),
  };
}

/**
 * The same load from a process of its own, so the measurement does not include the pauses of
 * the benchmark's process (its heap holds the earlier phases' data, and a major garbage
 * collection there would stall the sender and count as the API's latency).
 */
export async function pacedLoadInChild(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL(import.meta.url).pathname, JSON.stringify(options)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`the load process exited with ${code}`);
  return JSON.parse(output.trim().split('\n').at(-1) as string) as PacedLoadResult;
}

// Run as a process: `node --import tsx paced-load.ts '<options as JSON>'` prints the result.
if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const result = await pacedLoad(JSON.parse(process.argv[2] as string) as PacedLoadOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
