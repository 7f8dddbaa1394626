'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { use } from 'react';
import { HistoryChart } from '@/components/protection/history-chart';
import { errorText, useTRPC } from '@/components/trpc';
import { BytesAtRiskLine } from '@/components/protection/bytes-at-risk';
import { ErrorBox, PageTitle } from '@/components/ui';

const KIND_LABEL: Record<string, string> = { 'vm-replica': 'VM replica', 'rbd-image': 'RBD image', vm: 'VM' };

/** One protected object's collected history (`/protection/replica%3A7`, `/protection/rbd%3A4-5%2Frbd%2F%2Fvol1`). */
export default function ProtectionObjectPage({ params }: { params: Promise<{ subject: string }> }) {
  const raw = use(params).subject;
  let subject: string;
  try {
    subject = decodeURIComponent(raw);
  } catch {
    subject = raw;
  }
  const trpc = useTRPC();
  // The same query the chart's first range asks, so this shares its answer.
  const q = useQuery(trpc.protectionHistory.series.queryOptions({ subject, range: '24h' }));
  const s = q.data;
  return (
    <>
      <PageTitle
        actions={
          s?.href && s.href !== `/protection/${encodeURIComponent(subject)}` ? (
            <Link href={s.href} className="text-sm text-brand-600 hover:underline">
              Open {s.name ?? subject}
            </Link>
          ) : undefined
        }
      >
        <span className="flex items-center gap-2">
          History of {s?.name ?? subject}
          {s?.kind && (
            <span className="text-base font-normal text-zinc-500">{KIND_LABEL[s.kind] ?? s.kind}</span>
          )}
        </span>
      </PageTitle>
      {q.error && <ErrorBox error={errorText(q.error)} />}
      {s && s.name === null && (
        <p className="mb-3 text-sm text-zinc-600 dark:text-zinc-400">
          {subject} is not a protected object now; its collected history, if any, is shown.
        </p>
      )}
      {s?.name && s.kind !== 'vm' && <BytesAtRiskLine subject={subject} />}
      <HistoryChart subject={subject} />
    </>
  );
}
