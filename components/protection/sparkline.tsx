'use client';

import { Line, LineChart, ReferenceLine, YAxis } from 'recharts';
import { formatSeconds } from '@/server/domain/protection/format';

/** The last hour's data-loss window of one object against its RPO (dashed), as a small line; its figures in words for screen readers. */
export function Sparkline({ values, rpoSec }: { values: number[] | undefined; rpoSec: number }) {
  if (!values || values.length === 0)
    return <span className="text-xs text-zinc-500 dark:text-zinc-400">no samples yet</span>;
  if (values.length === 1)
    return (
      <span className="text-xs text-zinc-500 dark:text-zinc-400">1 sample: {formatSeconds(values[0]!)}</span>
    );
  const data = values.map((v, i) => ({ i, v }));
  const max = Math.max(rpoSec, ...values);
  const label = `last hour: data-loss window from ${formatSeconds(values[0]!)} to ${formatSeconds(values[values.length - 1]!)}, at most ${formatSeconds(Math.max(...values))}; RPO ${formatSeconds(rpoSec)}`;
  return (
    <figure className="m-0" aria-label={label} title={label} data-testid="sparkline">
      <div aria-hidden="true">
        {/* Not focusable: the chart is hidden from assistive technology (its figures are the label). */}
        <LineChart
          width={96}
          height={28}
          data={data}
          margin={{ top: 2, right: 2, bottom: 2, left: 2 }}
          accessibilityLayer={false}
        >
          <YAxis hide domain={[0, max * 1.1]} />
          <ReferenceLine y={rpoSec} stroke="#f59e0b" strokeDasharray="3 2" />
          <Line
            type="monotone"
            dataKey="v"
            stroke="#0284c7"
            strokeWidth={1.5}
            dot={false}
            isAnimationActive={false}
          />
        </LineChart>
      </div>
    </figure>
  );
}
