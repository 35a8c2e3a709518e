/**
 * One run, live: its tenant by name, overall and per-resource progress, rate now and on average,
 * how long it has taken, ETA, the last error in full, and the controls the run allows now (none
 * shown on a run that allows none). Updates on its own (live.ts) without a reload. Cancel is
 * final, so it asks first; every control says what it did.
 */
import { ENDED_RUN_STATUSES } from '@historical-sync/contracts/run-vocabulary';
import { useEffect, useState } from 'preact/hooks';
import { ActionNote, ConfirmButton, useActions } from '../components/actions';
import { ErrorNote, Loading, ProgressBar, Status } from '../components/common';
import { count, duration, instant, rate, shortId } from '../format';
import { useLoad } from '../hooks';
import { watchRun } from '../live';
import { href } from '../router';
import type { Session } from '../session';
import type { RunAction, RunView } from '../types';

const ACTION_LABELS: Record<RunAction, string> = {
  pause: 'Pause',
  resume: 'Resume',
  cancel: 'Cancel',
  retry: 'Retry',
};

/** What a control did, for the note after it. */
const DONE: Record<RunAction, (run: string) => string> = {
  pause: (run) => `Paused run ${run}.`,
  resume: (run) => `Resumed run ${run}.`,
  cancel: (run) => `Cancelled run ${run}: it publishes nothing more, and cannot be resumed.`,
  retry: (run) => `Retrying run ${run} from its checkpoints.`,
};

/** Seconds from `from` to `to` (ISO instants), or to `nowMs` while it has not ended. */
const secondsBetween = (from: string | null, to: string | null, nowMs: number) =>
  from === null ? null : ((to === null ? nowMs : Date.parse(to)) - Date.parse(from)) / 1000;

/** A render a second while `ticking`: a running run's duration grows on screen. */
function useTick(ticking: boolean) {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!ticking) return;
    const timer = setInterval(() => setTick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, [ticking]);
}

/** Tenths under 10 s, so a short run's average rate reads against the duration it divides by. */
const runDuration = (seconds: number) =>
  seconds < 10 ? `${Math.max(0, seconds).toFixed(1)} s` : duration(seconds);

export function RunPage(props: { session: Session; tenantId: string; runId: string }) {
  const { session, tenantId, runId } = props;
  const [run, setRun] = useState<RunView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);
  const { note, busy, act, dismiss } = useActions();
  // The tenant's name: a person knows tenants by name, not by id.
  const tenant = useLoad(
    (signal) => session.api.call('getTenantApplications', { params: { orgId: tenantId }, signal }),
    [tenantId],
  );
  const ended = run !== null && ENDED_RUN_STATUSES.includes(run.status);
  useTick(run !== null && !ended && run.startedAt !== null);

  // A new generation (after an action) restarts the watch.
  useEffect(() => {
    const controller = new AbortController();
    void watchRun(
      session.api,
      { orgId: tenantId, runId },
      (view) => {
        setRun(view);
        setError(null);
      },
      setError,
      controller.signal,
    );
    return () => controller.abort();
  }, [tenantId, runId, session, generation]);

  const control = (action: RunAction) =>
    act(async () => {
      setRun(await session.api.call(`${action}Run`, { params: { orgId: tenantId, runId } }));
      // A retried run streams again from its new state.
      setGeneration((g) => g + 1);
      return DONE[action](shortId(runId));
    });

  if (!run) return error ? <ErrorNote error={error} /> : <Loading />;
  const resources = Object.entries(run.resources);
  const seconds = secondsBetween(run.startedAt, run.finishedAt, Date.now());
  const average = seconds !== null && seconds > 0 ? run.published / seconds : null;
  const tenantName = tenant.data?.name;
  return (
    <section aria-labelledby="run-heading">
      <p class="crumbs">
        <a href={href(['runs'], { tenantId })}>Runs</a> /{' '}
        <a href={href(['tenants', tenantId, 'apps', run.appCode])}>
          {tenantName ?? 'tenant'} / {run.appCode}
        </a>
      </p>
      <h1 id="run-heading">Run {shortId(run.runId)}</h1>
      <ActionNote note={note} onDismiss={dismiss} />
      <ProgressBar label="Overall progress" percent={run.percent} status={run.status} />
      <dl class="facts" aria-label="Run details">
        <dt>State</dt>
        <dd>
          <Status status={run.status} />
        </dd>
        <dt>Tenant</dt>
        <dd>
          {tenantName ?? '…'} <code class="id">{run.tenantId}</code>
        </dd>
        <dt>Application</dt>
        <dd>{run.appCode}</dd>
        <dt>Published</dt>
        <dd>
          {count(run.published)} / {count(run.total)}
        </dd>
        <dt>Duration</dt>
        <dd>
          {seconds === null ? 'not started' : `${runDuration(seconds)}${ended ? '' : ' so far'}`}
        </dd>
        <dt>Average rate</dt>
        <dd>{rate(average)}</dd>
        {!ended && (
          <>
            <dt>Events per second now</dt>
            <dd>{rate(run.eventsPerSecond)}</dd>
            <dt>Time left (ETA)</dt>
            <dd>{duration(run.etaSeconds)}</dd>
          </>
        )}
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
      {run.allowedActions.length > 0 && (
        <fieldset class="actions">
          <legend>Run controls</legend>
          {run.allowedActions.map((action) =>
            action === 'cancel' ? (
              <ConfirmButton
                key={action}
                label={ACTION_LABELS.cancel}
                question={`Cancel run ${shortId(run.runId)}? This is final: it stops publishing now and cannot be resumed. What it published stays; a manual sync starts a new run.`}
                confirmLabel="Yes, cancel the run"
                keepLabel="Keep the run"
                disabled={busy}
                onConfirm={() => void control('cancel')}
              />
            ) : (
              <button
                key={action}
                type="button"
                disabled={busy}
                onClick={() => void control(action)}
              >
                {ACTION_LABELS[action]}
              </button>
            ),
          )}
        </fieldset>
      )}
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
                  <ProgressBar
                    label={`${name} progress`}
                    percent={progress.percent}
                    status={run.status === 'cancelled' ? 'cancelled' : progress.status}
                  />
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
