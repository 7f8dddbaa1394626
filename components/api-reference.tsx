'use client';

import { ApiReferenceReact } from '@scalar/api-reference-react';
import '@scalar/api-reference-react/style.css';

/**
 * The API reference (Scalar's viewer) over /api/v1/openapi.json, with its "try it" client. The
 * token is the one just created on this page, if any (it is never stored): the viewer sends it as
 * `Authorization: Bearer`; otherwise the operator pastes one into the viewer's auth field.
 */
export default function ApiReference({ token }: { token: string | null }) {
  return (
    <div
      data-testid="api-reference"
      className="overflow-hidden rounded-md border border-zinc-200 dark:border-zinc-700"
    >
      <ApiReferenceReact
        configuration={{
          url: '/api/v1/openapi.json',
          withDefaultFonts: false,
          hideDownloadButton: false,
          telemetry: false,
          // No AI chat: nothing of the document or the token leaves the console.
          agent: { disabled: true },
          showDeveloperTools: 'never',
          authentication: {
            preferredSecurityScheme: 'bearer',
            securitySchemes: { bearer: { token: token ?? '' } },
          },
        }}
      />
    </div>
  );
}
