/**
 * An application's last verification (docs/VERIFY.md): when, rows checked, and differences by
 * kind per resource, with a button to verify now. A verification publishes nothing.
 */
import { useState } from 'preact/hooks';
import { type Api, ApiError } from '../api';
import { count, instant } from '../format';
import { useLoad } from '../hooks';
import type { VerificationView } from '../types';
import { ErrorNote } from './common';

const LABELS: Record<string, string> = {
  credits: 'Credit allocations',
  organizations: 'Organizations',
  memberships: 'Memberships',
};

export function VerificationSection(props: { api: Api; base: string; appCode: string }) {
  const path = `${props.base}/applications/${encodeURIComponent(props.appCode)}`;
  const { data, error, setData } = useLoad(
    (signal) =>
      props.api
        .get<VerificationView>(`${path}/verifications/latest`, signal)
        // Never verified: nothing to show yet, not an error.
        .catch((reason: unknown) => {
          if (reason instanceof ApiError && reason.status === 404) return null;
          throw reason;
        }),
    [path],
  );
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const verifyNow = async () => {
    setBusy(true);
    setActionError(null);
    try {
      setData(await props.api.post<VerificationView>(`${path}/verify`, {}));
    } catch (reason) {
      setActionError(reason);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="verify-heading">
      <h2 id="verify-heading">Verification</h2>
      <p class="hint">
        Compares what the application holds with the source, range by range; publishes nothing.
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
                    <th scope="row">{LABELS[resource] ?? resource}</th>
                    <td>{count(r.rowsChecked)}</td>
                    <td>{count(r.missing)}</td>
                    <td>{count(r.stale)}</td>
                    <td>{count(r.ghost)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      <button type="button" disabled={busy} onClick={() => void verifyNow()}>
        {busy ? 'Verifying…' : 'Verify now'}
      </button>
    </section>
  );
}
