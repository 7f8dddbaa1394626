'use client';

import { PlanForm } from '@/components/plans/plan-form';
import { PageTitle } from '@/components/ui';

export default function NewPlanPage() {
  return (
    <>
      <PageTitle>New recovery plan</PageTitle>
      <PlanForm />
    </>
  );
}
