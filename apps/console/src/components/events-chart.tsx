/** The publish rate as a small SVG line chart: one point per sample, drawn here, no library. */
import { count } from '../format';

const WIDTH = 720;
const HEIGHT = 180;
const PAD = { left: 48, right: 12, top: 12, bottom: 24 };

export function EventsChart({ points }: { points: { at: string; events: number }[] }) {
  if (points.length === 0) return <p>No samples yet.</p>;
  const max = Math.max(1, ...points.map((p) => p.events));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (i: number) =>
    PAD.left + (points.length === 1 ? plotW : (i / (points.length - 1)) * plotW);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const line = points
    .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(p.events).toFixed(1)}`)
    .join(' ');
  const last = points[points.length - 1];
  const first = points[0];
  const summary = `Events per second from ${first?.at ?? ''} to ${last?.at ?? ''}: latest ${count(last?.events)}, peak ${count(max)}`;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={summary}>
        <line
          class="axis"
          x1={PAD.left}
          y1={PAD.top + plotH}
          x2={WIDTH - PAD.right}
          y2={PAD.top + plotH}
        />
        <line class="axis" x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={PAD.top + plotH} />
        <text x={PAD.left - 6} y={PAD.top + 4} text-anchor="end">
          {count(max)}
        </text>
        <text x={PAD.left - 6} y={PAD.top + plotH} text-anchor="end">
          0
        </text>
        <text x={PAD.left} y={HEIGHT - 6}>
          −15 min
        </text>
        <text x={WIDTH - PAD.right} y={HEIGHT - 6} text-anchor="end">
          now
        </text>
        <path class="series" d={line} />
      </svg>
      <figcaption>
        Latest {count(last?.events)} events/s, peak {count(max)} events/s over {points.length}{' '}
        samples of 10 s.
      </figcaption>
    </figure>
  );
}
