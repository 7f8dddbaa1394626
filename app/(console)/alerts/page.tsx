'use client';

import { useQuery } from '@tanstack/react-query';
import { AlertsHeader } from '@/components/alerts/header';
import { FiringAlerts, PastAlerts, Silences } from '@/components/alerts/alert-list';
import { Channels } from '@/components/alerts/channels';
import { useRole } from '@/components/alerts/common';
import { RuleSettings, SmtpSettings } from '@/components/alerts/smtp';
import { useTRPC } from '@/components/trpc';
import { PageTitle } from '@/components/ui';

export default function AlertsPage() {
  const trpc = useTRPC();
  const role = useRole();
  const counts = useQuery({ ...trpc.alerts.counts.queryOptions(), refetchInterval: 10_000 });
  return (
    <>
      <PageTitle actions={<AlertsHeader counts={counts.data} />}>Alerts</PageTitle>
      <FiringAlerts canAct={role === 'operator' || role === 'admin'} />
      <Silences canAct={role === 'operator' || role === 'admin'} />
      <PastAlerts />
      {role === 'admin' && (
        <section aria-labelledby="alert-admin" className="mt-8">
          <h2 id="alert-admin" className="mb-3 text-xl font-semibold tracking-tight">
            Delivery
          </h2>
          <Channels />
          <SmtpSettings />
          <RuleSettings />
        </section>
      )}
    </>
  );
}
