'use client';

import { useQuery } from '@tanstack/react-query';
import { use } from 'react';
import { PlanForm } from '@/components/plans/plan-form';
import { errorText, useTRPC } from '@/components/trpc';
import { ErrorBox, PageTitle } from '@/components/ui';

/** The editor of one plan, at its own address: saving or cancelling goes back to the plan. */
export default function EditPlanPage({ params }: { params: Promise<{ id: string }> }) {
  const id = Number(use(params).id);
  const trpc = useTRPC();
  const valid = Number.isInteger(id) && id > 0;
  const plan = useQuery(trpc.plans.get.queryOptions({ id }, { enabled: valid }));
  const input = useQuery(trpc.plans.input.queryOptions({ id }, { enabled: valid }));
  const error = plan.error ?? input.error;
  if (error) return <ErrorBox error={errorText(error)} />;
  if (!plan.data || !input.data) return <p className="text-sm text-zinc-500">Loading…</p>;
  return (
    <>
      <PageTitle>Edit plan {plan.data.name}</PageTitle>
      <PlanForm planId={id} initial={input.data} />
    </>
  );
}
