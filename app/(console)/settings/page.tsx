'use client';

import { ApiTokensSection } from '@/components/api-tokens';
import { PageTitle } from '@/components/ui';

export default function SettingsPage() {
  return (
    <>
      <PageTitle>Settings</PageTitle>
      <div className="space-y-4">
        <ApiTokensSection />
      </div>
    </>
  );
}
