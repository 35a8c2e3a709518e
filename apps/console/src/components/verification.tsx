/**
 * An application's last verification (docs/VERIFY.md): when, rows checked, differences by kind
 * per resource, and what its repair did, with buttons to verify now, or verify and repair.
 */
import { resourceLabel } from '@historical-sync/contracts/resources';
import { useState } from 'preact/hooks';
import { type Api, ApiError } from '../api';
import { count, instant } from '../format';
import { useLoad } from '../hooks';
import { href } from '../router';
import { ErrorNote } from './common';

export function VerificationSection(props: { api: Api; tenantId: string; appCode: string }) {
  const params = { orgId: props.tenantId, appCode: props.appCode };
  const { data, error, setData } = useLoad(
    (signal) =>
      props.api
        .call('getLatestVerification', { params, signal })
        // Never verified: nothing to show yet, not an error.
        .catch((reason: unknown) => {
          if (reason instanceof ApiError && reason.status === 404) return null;
          throw reason;
        }),
    [props.tenantId, props.appCode],
  );
  const [busy, setBusy] = useState<'verify' | 'repair' | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const verifyNow = async (repair: boolean) => {
    setBusy(repair ? 'repair' : 'verify');
    setActionError(null);
    try {
      setData(
        await props.api.call('verifyApplication', { params, body: repair ? { repair } : {} }),
      );
    } catch (reason) {
      setActionError(reason);
    } finally {
      setBusy(null);
    }
  };
  const repair = data?.repair;

  return (
    <section aria-labelledby="verify-heading">
      <h2 id="verify-heading">Verification</h2>
      <p class="hint">
        Compares what the application holds with the source, range by range. A repair publishes
        exactly the rows that differ, as a run.
      </p>
      <ErrorNote error={error ?? actionError} />
      {data === null && !error && <p>Never verified.</p>}
      {data && (
        <>
          <p role="status">
            {data.status === 'completed'
              ? data.differences === 0
                ? `In sync with the source (verified ${instant(data.finishedAt)})`
                : `${count(data.differences)} rows differ (verified ${instant(data.finishedAt)})`
              : `Verification ${data.status} (${instant(data.startedAt)}): ${data.error ?? ''}`}
          </p>
          {data.status === 'completed' && (
            <table aria-labelledby="verify-heading">
              <thead>
                <tr>
                  <th scope="col">Resource</th>
                  <th scope="col">Rows checked</th>
                  <th scope="col">Missing</th>
                  <th scope="col">Stale</th>
                  <th scope="col">Ghost</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(data.resources).map(([resource, r]) => (
                  <tr key={resource}>
                    <th scope="row">{resourceLabel(resource)}</th>
                    <td>{count(r.rowsChecked)}</td>
                    <td>{count(r.missing)}</td>
                    <td>{count(r.stale)}</td>
                    <td>{count(r.ghost)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {repair && (
            <p class="repair">
              {repair.runId ? (
                <>
                  Repaired by{' '}
                  <a href={href(['runs', props.tenantId, repair.runId])}>
                    run {repair.runId.slice(0, 8)}
                  </a>
                  : {count(repair.rows)} rows sent again
                </>
              ) : (
                'Nothing to send again'
              )}
              {repair.forgotten > 0 && `, ${count(repair.forgotten)} ghosts forgotten`}
              {repair.unrepaired > 0 &&
                `; ${count(repair.unrepaired)} not repaired: ${repair.error}`}
            </p>
          )}
        </>
      )}
      <div class="actions">
        <button type="button" disabled={busy !== null} onClick={() => void verifyNow(false)}>
          {busy === 'verify' ? 'Verifying…' : 'Verify now'}
        </button>
        <button type="button" disabled={busy !== null} onClick={() => void verifyNow(true)}>
          {busy === 'repair' ? 'Verifying and repairing…' : 'Verify and repair'}
        </button>
      </div>
    </section>
  );
}
