'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useId, useState, type ComponentProps, type ReactElement, type ReactNode } from 'react';
import {
  Bar,
  CartesianGrid,
  ComposedChart,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Scatter,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { RunPoint, SeriesPoint } from './types';
import { errorText, useTRPC } from '../trpc';
import { ErrorBox, cx, formatBytes, formatDuration } from '../ui';

export const RANGES = [
  { key: '1h', label: '1 h', ms: 3_600_000 },
  { key: '6h', label: '6 h', ms: 6 * 3_600_000 },
  { key: '24h', label: '24 h', ms: 24 * 3_600_000 },
  { key: '7d', label: '7 d', ms: 7 * 86_400_000 },
  { key: '30d', label: '30 d', ms: 30 * 86_400_000 },
] as const;
export type RangeKey = (typeof RANGES)[number]['key'];

const COLORS = {
  window: '#2563eb',
  rpo: '#b91c1c',
  throughput: '#0e7490',
  duration: '#6d28d9',
  bytes: '#94a3b8',
  failed: '#b91c1c',
};
const AXIS = { fontSize: 11, fill: '#52525b' };

/** 15 min, 1 h 30 min, 42 s: a duration in seconds without a trailing "0 s". */
function secs(s: number | null | undefined): string {
  if (s === null || s === undefined) return '—';
  if (s >= 60 && Math.round(s) % 60 === 0) {
    const m = Math.round(s / 60);
    if (m < 60) return `${m} min`;
    if (m % 60 === 0 && m < 48 * 60) return `${m / 60} h`;
  }
  return formatDuration(Math.round(s * 1000));
}
const rate = (b: number | null | undefined) => (b === null || b === undefined ? '—' : `${formatBytes(b)}/s`);

/** Axis labels: 45 s, 15 min, 2 h, 3 d (short enough not to wrap). */
function shortSecs(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 6) / 10} min`.replace('.0 ', ' ');
  if (s < 172_800) return `${Math.round(s / 360) / 10} h`.replace('.0 ', ' ');
  return `${Math.round(s / 8640) / 10} d`.replace('.0 ', ' ');
}

const MARGIN = { top: 14, right: 8, bottom: 0, left: 0 };
const GRID = <CartesianGrid strokeDasharray="3 3" stroke="#e4e4e7" />;
const timeLabel = (t: unknown) => new Date(Number(t)).toLocaleString();

/**
 * One series of the collected samples as a line over the range (`xAxis`), its values shown by
 * `format` in the tooltip; `children` are drawn over it.
 */
function SeriesChart({
  data,
  xAxis,
  yAxis,
  format,
  line,
  dot,
  children,
}: {
  data: SeriesPoint[];
  xAxis: ReactElement;
  yAxis: ReactElement;
  format: (v: number) => string;
  line: Pick<ComponentProps<typeof Line>, 'type' | 'dataKey' | 'name' | 'stroke' | 'connectNulls'>;
  dot: ComponentProps<typeof Line>['dot'];
  children?: ReactNode;
}) {
  return (
    <ResponsiveContainer width="100%" height="100%">
      <LineChart data={data} margin={MARGIN} accessibilityLayer={false}>
        {GRID}
        {xAxis}
        {yAxis}
        <Tooltip labelFormatter={timeLabel} formatter={(v) => format(Number(v))} />
        <Line {...line} dot={dot} strokeWidth={2} isAnimationActive={false} />
        {children}
      </LineChart>
    </ResponsiveContainer>
  );
}

/** Four even ticks from 0 that cover `max` seconds, on round durations. */
export function durationTicks(max: number): number[] {
  const steps = [
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
  ];
  const step = steps.find((x) => x * 4 >= max) ?? Math.ceil(max / 4 / 86_400) * 86_400;
  return [0, step, 2 * step, 3 * step, 4 * step];
}

function timeTick(rangeMs: number) {
  return (t: number) => {
    const d = new Date(t);
    if (rangeMs > 86_400_000) return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
    if (rangeMs >= 86_400_000)
      return d.toLocaleString(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
    return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  };
}

function stats(values: (number | null)[]) {
  const v = values.filter((x): x is number => x !== null);
  return {
    n: v.length,
    max: v.length ? Math.max(...v) : null,
    last: v.length ? v[v.length - 1]! : null,
    avg: v.length ? v.reduce((a, b) => a + b, 0) / v.length : null,
  };
}

/** What the three charts show, in words (the charts are SVG: the figures carry this as their caption). */
export function summarise(
  points: SeriesPoint[],
  runs: RunPoint[],
  rpoSec: number | null,
  rangeLabel: string,
) {
  const w = stats(points.map((p) => p.windowSec));
  const over =
    rpoSec === null ? null : points.filter((p) => p.windowSec !== null && p.windowSec > rpoSec).length;
  const window =
    w.n === 0
      ? `Data-loss window over the last ${rangeLabel}: no samples yet.${rpoSec !== null ? ` RPO ${secs(rpoSec)}.` : ''}`
      : `Data-loss window over the last ${rangeLabel}: latest ${secs(w.last)}, highest ${secs(w.max)}` +
        (rpoSec !== null
          ? `; RPO ${secs(rpoSec)}, exceeded in ${over} of ${w.n} samples.`
          : '; no RPO known.');
  const t = stats(points.map((p) => p.bytesPerSecond));
  const throughput =
    t.n === 0
      ? `Throughput over the last ${rangeLabel}: no samples yet.`
      : `Throughput over the last ${rangeLabel}: latest ${rate(t.last)}, average ${rate(t.avg)}, highest ${rate(t.max)}.`;
  let duration: string;
  if (runs.length) {
    const d = stats(runs.map((r) => r.durationSec));
    const count = runs.reduce((n, r) => n + r.runs, 0);
    const failed = runs.reduce((n, r) => n + r.failed, 0);
    const bytes = runs.reduce((n, r) => n + (r.bytes ?? 0), 0);
    duration = `Sync duration over the last ${rangeLabel}: ${count} sync${count === 1 ? '' : 's'} (${failed} failed), latest ${secs(d.last)}, longest ${secs(d.max)}; ${formatBytes(bytes)} sent.`;
  } else {
    const d = stats(points.map((p) => p.syncSeconds));
    duration =
      d.n === 0
        ? `Sync duration over the last ${rangeLabel}: no syncs recorded.`
        : `Sync duration over the last ${rangeLabel}: latest ${secs(d.last)}, longest ${secs(d.max)}.`;
  }
  return { window, throughput, duration };
}

function Figure({
  title,
  caption,
  testid,
  children,
  extra,
}: {
  title: string;
  caption: string;
  testid: string;
  children: ReactNode;
  extra?: Record<string, string>;
}) {
  const id = useId();
  return (
    <figure
      className="rounded-md border border-zinc-200 p-3 dark:border-zinc-800"
      aria-labelledby={`${id}-t`}
      aria-describedby={`${id}-c`}
      data-testid={testid}
      {...extra}
    >
      <h3 id={`${id}-t`} className="mb-1 text-sm font-medium">
        {title}
      </h3>
      {/* The SVG repeats the caption's figures for sighted readers; assistive technology reads the caption. */}
      <div aria-hidden="true" className="h-44 w-full">
        {children}
      </div>
      <figcaption id={`${id}-c`} className="mt-1 text-xs text-zinc-600 dark:text-zinc-400">
        {caption}
      </figcaption>
    </figure>
  );
}

/**
 * One protected object's collected history: the data-loss window against its RPO (a labelled
 * reference line), throughput, and sync duration (per run for VM replicas, with the bytes each
 * sent), over a chosen range.
 */
export function HistoryChart({
  subject,
  initialRange = '24h',
}: {
  subject: string;
  initialRange?: RangeKey;
}) {
  const trpc = useTRPC();
  const [range, setRange] = useState<RangeKey>(initialRange);
  const q = useQuery({
    ...trpc.protectionHistory.series.queryOptions({ subject, range }),
    refetchInterval: 60_000,
    placeholderData: keepPreviousData,
  });
  const r = RANGES.find((x) => x.key === range)!;
  const s = q.data;
  const rpo = s?.rpoSec ?? null;
  const points = s?.points ?? [];
  const runs = s?.runs ?? [];
  const summary = summarise(points, runs, rpo, r.label);
  const domain: [number, number] = s ? [s.from, s.to] : [0, 1];
  const tick = timeTick(r.ms);
  const xAxis = (
    <XAxis
      dataKey="at"
      type="number"
      scale="time"
      domain={domain}
      tickFormatter={tick}
      tick={AXIS}
      minTickGap={40}
    />
  );
  const maxWindow = Math.max(rpo ?? 0, ...points.map((p) => p.windowSec ?? 0));
  const windowTicks = durationTicks(Math.max(1, maxWindow * 1.1));
  // Without samples the axes (and the RPO line) are still drawn, over the range.
  // Few samples (a new object, a short range) are drawn as dots too, so that they are seen.
  const dot = points.length <= 60 ? { r: 2.5 } : false;
  const drawn: SeriesPoint[] = points.length
    ? points
    : s
      ? [s.from, s.to].map((at) => ({
          at,
          windowSec: null,
          bytesPerSecond: null,
          syncSeconds: null,
          count: 0,
        }))
      : [];
  const series = { data: drawn, xAxis, dot };
  return (
    <section className="space-y-3" data-testid="history-chart" aria-label="Collected history">
      <div className="flex flex-wrap items-center gap-2">
        <span className="text-sm text-zinc-600 dark:text-zinc-400" id={`range-${subject}`}>
          Range
        </span>
        <div
          role="group"
          aria-labelledby={`range-${subject}`}
          className="inline-flex overflow-hidden rounded-md border border-zinc-300 dark:border-zinc-700"
        >
          {RANGES.map((x) => (
            <button
              key={x.key}
              type="button"
              aria-pressed={x.key === range}
              onClick={() => setRange(x.key)}
              className={cx(
                'px-2.5 py-1 text-sm',
                x.key === range
                  ? 'bg-brand-600 text-white'
                  : 'bg-white text-zinc-800 hover:bg-zinc-100 dark:bg-zinc-900 dark:text-zinc-200 dark:hover:bg-zinc-800',
              )}
            >
              {x.label}
            </button>
          ))}
        </div>
        {q.isFetching && <span className="text-xs text-zinc-500">loading…</span>}
        {s && s.resolution !== 'raw' && (
          <span className="text-xs text-zinc-600 dark:text-zinc-400">
            averages over {formatDuration(s.resolution)}
          </span>
        )}
      </div>
      {q.error && <ErrorBox error={errorText(q.error)} />}
      <div className="grid gap-3 lg:grid-cols-3">
        <Figure
          title="Data-loss window"
          caption={summary.window}
          testid="chart-window"
          extra={{ 'data-rpo': rpo === null ? '' : String(rpo) }}
        >
          <SeriesChart
            {...series}
            yAxis={
              <YAxis
                tickFormatter={shortSecs}
                tick={AXIS}
                width={52}
                domain={[0, windowTicks.at(-1)!]}
                ticks={windowTicks}
                allowDataOverflow
              />
            }
            format={secs}
            line={{
              type: 'monotone',
              dataKey: 'windowSec',
              name: 'window',
              stroke: COLORS.window,
              connectNulls: false,
            }}
          >
            {rpo !== null && (
              <ReferenceLine
                y={rpo}
                ifOverflow="extendDomain"
                stroke={COLORS.rpo}
                strokeDasharray="6 3"
                label={{
                  value: `RPO ${secs(rpo)}`,
                  position: 'insideTopRight',
                  fill: COLORS.rpo,
                  fontSize: 11,
                }}
              />
            )}
          </SeriesChart>
        </Figure>
        <Figure title="Throughput (bytes per second)" caption={summary.throughput} testid="chart-throughput">
          <SeriesChart
            {...series}
            yAxis={<YAxis tickFormatter={(v: number) => formatBytes(v)} tick={AXIS} width={64} />}
            format={rate}
            line={{
              type: 'monotone',
              dataKey: 'bytesPerSecond',
              name: 'throughput',
              stroke: COLORS.throughput,
            }}
          />
        </Figure>
        <Figure
          title={runs.length ? 'Sync duration and bytes per sync' : 'Sync duration'}
          caption={summary.duration}
          testid="chart-duration"
        >
          {runs.length ? (
            <ResponsiveContainer width="100%" height="100%">
              <ComposedChart data={runs} margin={MARGIN} accessibilityLayer={false}>
                {GRID}
                {xAxis}
                <YAxis yAxisId="d" tickFormatter={shortSecs} tick={AXIS} width={48} />
                <YAxis
                  yAxisId="b"
                  orientation="right"
                  tickFormatter={(v: number) => formatBytes(v)}
                  tick={AXIS}
                  width={64}
                />
                <Tooltip
                  labelFormatter={timeLabel}
                  formatter={(v, name) => (name === 'bytes' ? formatBytes(Number(v)) : secs(Number(v)))}
                />
                <Bar
                  yAxisId="b"
                  dataKey="bytes"
                  name="bytes"
                  fill={COLORS.bytes}
                  isAnimationActive={false}
                  maxBarSize={8}
                />
                <Scatter
                  yAxisId="d"
                  dataKey="durationSec"
                  name="duration"
                  fill={COLORS.duration}
                  isAnimationActive={false}
                />
              </ComposedChart>
            </ResponsiveContainer>
          ) : (
            <SeriesChart
              {...series}
              yAxis={<YAxis tickFormatter={shortSecs} tick={AXIS} width={48} />}
              format={secs}
              line={{
                type: 'stepAfter',
                dataKey: 'syncSeconds',
                name: 'sync duration',
                stroke: COLORS.duration,
              }}
            />
          )}
        </Figure>
      </div>
    </section>
  );
}
