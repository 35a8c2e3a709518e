/** Waiting for a run of the benchmark's tenant to end, through the API as an operator would. */
import type { AppProcess } from './processes';
import { sleep } from './say';

/**
 * The run's view once it has completed or failed, polled every 50 ms; throws if the worker
 * publishing it exits first (its output says why).
 */
export async function runEnd<View extends { status: string }>(
  target: { base: string; headers: Record<string, string>; tenantId: string },
  runId: string,
  worker: AppProcess,
): Promise<View> {
  const url = `${target.base}/admin/organizations/${target.tenantId}/sync-runs/${runId}`;
  for (;;) {
    const run = (await (await fetch(url, { headers: target.headers })).json()) as View;
    if (run.status === 'completed' || run.status === 'failed') return run;
    if (worker.child.exitCode !== null) throw new Error(`the worker exited: ${worker.output()}`);
    await sleep(50);
  }
}
