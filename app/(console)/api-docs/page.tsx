'use client';

import dynamic from 'next/dynamic';
import { useState } from 'react';
import { ApiTokensSection } from '@/components/api-tokens';
import { Card, PageTitle } from '@/components/ui';

// The viewer runs in the browser only (it is large: loaded when this page opens).
const ApiReference = dynamic(() => import('@/components/api-reference'), {
  ssr: false,
  loading: () => <p className="text-sm text-zinc-500">Loading the reference…</p>,
});

/** The REST API: your tokens, and its reference with a "try it" that uses the token just created. */
export default function ApiPage() {
  const [token, setToken] = useState<string | null>(null);
  return (
    <>
      <PageTitle>API</PageTitle>
      <div className="space-y-4">
        <div data-testid="api-tokens">
          <ApiTokensSection onToken={setToken} />
        </div>
        <Card title="Reference">
          <p className="mb-3 text-sm text-zinc-600 dark:text-zinc-400">
            The REST API answers at <code>/api/v1</code>. VM replicas follow Danube Cloud&apos;s paths and
            field names (<code>/api/v1/vm/&#123;hostname_or_uuid&#125;/replica/&#123;repname&#125;</code>),
            RBD mirroring croit&apos;s (
            <code>/api/v1/ceph/&#123;cluster&#125;/pools/&#123;pool&#125;/rbd-mirror</code>); long operations
            answer <code>202</code> with a Task object, followed with{' '}
            <code>GET /api/v1/tasks/&#123;id&#125;?wait=60</code>. Errors are{' '}
            <code>&#123; &quot;error&quot;: &#123; code, message, fields &#125; &#125;</code>. The document:{' '}
            <a className="text-brand-700 underline dark:text-brand-300" href="/api/v1/openapi.json">
              /api/v1/openapi.json
            </a>
            .{' '}
            {token
              ? 'Requests tried below use the token you just created.'
              : 'To try a request below, create a token above (or paste one in the reference’s authentication field).'}
          </p>
          <ApiReference token={token} />
        </Card>
      </div>
    </>
  );
}
