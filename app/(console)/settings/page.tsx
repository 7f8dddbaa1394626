'use client';

import { RetentionForm } from '@/components/protection/retention-form';
import { Card, PageTitle } from '@/components/ui';

export default function SettingsPage() {
  return (
    <>
      <PageTitle>Settings</PageTitle>
      <div className="space-y-4">
        <Card title="Collected history">
          <RetentionForm canEdit />
        </Card>
      </div>
    </>
  );
}
