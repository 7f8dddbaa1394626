'use client';

import { use } from 'react';
import { RunReportView } from '@/components/plans/report';

export default function ReportPage({ params }: { params: Promise<{ id: string }> }) {
  return <RunReportView id={Number(use(params).id)} />;
}
