'use client';

import { formatBytes, formatDuration } from '../ui';

interface Run {
  startedAt: Date;
  finishedAt: Date | null;
  bytes: number | null;
  outcome: string;
}

/** Lag before each sync (time since the previous successful one) and bytes per sync, over time. */
export function SyncChart({ runs }: { runs: Run[] }) {
  const ok = runs.filter((r) => r.outcome === 'success' && r.finishedAt).sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  if (ok.length < 2) return <p className="text-xs text-zinc-500">The chart appears after two successful syncs.</p>;
  const pts = ok.map((r, i) => ({ t: r.finishedAt!.getTime(), lag: i ? (r.finishedAt!.getTime() - ok[i - 1]!.startedAt.getTime()) / 1000 : 0, bytes: r.bytes ?? 0 }));
  const W = 600;
  const H = 120;
  const t0 = pts[0]!.t;
  const t1 = pts[pts.length - 1]!.t;
  const maxLag = Math.max(1, ...pts.map((p) => p.lag));
  const maxBytes = Math.max(1, ...pts.map((p) => p.bytes));
  const x = (t: number) => ((t - t0) / Math.max(1, t1 - t0)) * (W - 20) + 10;
  const line = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${(H - 10 - (p.lag / maxLag) * (H - 20)).toFixed(1)}`).join(' ');
  const barW = Math.max(2, (W - 20) / pts.length / 2);
  return (
    <figure>
      <svg viewBox={`0 0 ${W} ${H}`} className="h-32 w-full" role="img" aria-label={`Lag (line, up to ${formatDuration(maxLag * 1000)}) and bytes per sync (bars, up to ${formatBytes(maxBytes)}) over ${pts.length} syncs`}>
        {pts.map((p) => (
          <rect key={p.t} x={x(p.t) - barW / 2} width={barW} y={H - 10 - (p.bytes / maxBytes) * (H - 20)} height={(p.bytes / maxBytes) * (H - 20)} className="fill-sky-300/60 dark:fill-sky-700/60" />
        ))}
        <path d={line} className="fill-none stroke-brand-600" strokeWidth={2} />
      </svg>
      <figcaption className="flex justify-between text-xs text-zinc-500">
        <span>— lag before sync (max {formatDuration(maxLag * 1000)})</span>
        <span>▮ bytes per sync (max {formatBytes(maxBytes)})</span>
      </figcaption>
    </figure>
  );
}
