'use client';

import { ApiTokensSection } from '@/components/api-tokens';
import { Card, PageTitle } from '@/components/ui';

/** The REST API: your tokens, and where its reference is. */
export default function ApiPage() {
  return (
    <>
      <PageTitle>API</PageTitle>
      <div className="space-y-4">
        <ApiTokensSection />
        <Card title="Reference">
          <p className="text-sm text-zinc-600 dark:text-zinc-400">
            The REST API answers at <code>/api/v1</code>. VM replicas follow Danube Cloud&apos;s paths and field names (<code>/api/v1/vm/&#123;hostname_or_uuid&#125;/replica/&#123;repname&#125;</code>); long operations answer <code>202</code> with a Task object in croit&apos;s shape, followed with{' '}
            <code>GET /api/v1/tasks/&#123;id&#125;?wait=60</code>. Errors are <code>&#123; &quot;error&quot;: &#123; code, message, fields &#125; &#125;</code>. The whole reference is the OpenAPI 3.1 document:{' '}
            <a className="text-brand-700 underline dark:text-brand-300" href="/api/v1/openapi.json">
              /api/v1/openapi.json
            </a>
            .
          </p>
        </Card>
      </div>
    </>
  );
}
