/**
 * One run, live: overall and per-resource progress, rate, ETA, the last error in full, and the
 * controls the run allows now. Updates on its own (live.ts) without a reload.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Session } from '../app';
import { ErrorNote, Loading, ProgressBar, Status } from '../components/common';
import { count, duration, instant, rate, shortId } from '../format';
import { watchRun } from '../live';
import { href } from '../router';
import type { RunAction, RunView } from '../types';

const ACTION_LABELS: Record<RunAction, string> = {
  pause: 'Pause',
  resume: 'Resume',
  cancel: 'Cancel',
  retry: 'Retry',
};

export function RunPage(props: { session: Session; tenantId: string; runId: string }) {
  const { session, tenantId, runId } = props;
  const path = `/admin/organizations/${encodeURIComponent(tenantId)}/sync-runs/${encodeURIComponent(runId)}`;
  const [run, setRun] = useState<RunView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [generation, setGeneration] = useState(0);

  // A new generation (after an action) restarts the watch.
  useEffect(() => {
    const controller = new AbortController();
    void watchRun(
      session.api,
      path,
      (view) => {
        setRun(view);
        setError(null);
      },
      setError,
      controller.signal,
    );
    return () => controller.abort();
  }, [path, session, generation]);

  const act = async (action: RunAction) => {
    setBusy(true);
    setActionError(null);
    try {
      setRun(await session.api.post<RunView>(`${path}/${action}`));
      // A retried run streams again from its new state.
      setGeneration((g) => g + 1);
    } catch (reason) {
      setActionError(reason);
    } finally {
      setBusy(false);
    }
  };

  if (!run) return error ? <ErrorNote error={error} /> : <Loading />;
  const resources = Object.entries(run.resources);
  return (
    <section aria-labelledby="run-heading">
      <p class="crumbs">
        <a href={href(['runs'], { tenantId })}>Runs</a> /{' '}
        <a href={href(['tenants', tenantId, 'apps', run.appCode])}>{run.appCode}</a>
      </p>
      <h1 id="run-heading">Run {shortId(run.runId)}</h1>
      <ProgressBar label="Overall progress" percent={run.percent} />
      <dl class="facts" aria-label="Run details">
        <dt>State</dt>
        <dd>
          <Status status={run.status} />
        </dd>
        <dt>Published</dt>
        <dd>
          {count(run.published)} / {count(run.total)}
        </dd>
        <dt>Events per second</dt>
        <dd>{rate(run.eventsPerSecond)}</dd>
        <dt>Time left (ETA)</dt>
        <dd>{duration(run.etaSeconds)}</dd>
        <dt>Started</dt>
        <dd>{instant(run.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>{instant(run.finishedAt)}</dd>
        <dt>Trigger</dt>
        <dd>{run.trigger}</dd>
        <dt>Since date</dt>
        <dd>{run.sinceDate ?? 'all rows'}</dd>
        <dt>Run id</dt>
        <dd>
          <code>{run.runId}</code>
        </dd>
      </dl>
      <fieldset class="actions">
        <legend>Run controls</legend>
        {run.allowedActions.map((action) => (
          <button key={action} type="button" disabled={busy} onClick={() => void act(action)}>
            {ACTION_LABELS[action]}
          </button>
        ))}
      </fieldset>
      <ErrorNote error={actionError} />
      {error ? <ErrorNote error={error} /> : null}
      <table>
        <caption>Progress per resource</caption>
        <thead>
          <tr>
            <th scope="col">Resource</th>
            <th scope="col">State</th>
            <th scope="col">Published / total</th>
            <th scope="col">Progress</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {resources.map(([name, progress]) =>
            progress ? (
              <tr key={name}>
                <th scope="row">{name}</th>
                <td>
                  <Status status={progress.status} />
                  {progress.throttled ? <p class="throttled">{progress.throttled}</p> : null}
                </td>
                <td>
                  {count(progress.published)} / {count(progress.total)}
                </td>
                <td>
                  <ProgressBar label={`${name} progress`} percent={progress.percent} />
                </td>
                <td>{progress.lastError ?? '—'}</td>
              </tr>
            ) : null,
          )}
        </tbody>
      </table>
      <section aria-labelledby="error-heading">
        <h2 id="error-heading">Last error</h2>
        {run.lastError ? <pre class="last-error">{run.lastError}</pre> : <p>None.</p>}
      </section>
    </section>
  );
}
