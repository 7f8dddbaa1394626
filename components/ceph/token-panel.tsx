'use client';

import { useMutation } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useToast } from '../toast';
import { errorText, useTRPC } from '../trpc';
import { Button, Card, ErrorBox, Select, TextArea, TextInput } from '../ui';

/** Bootstrap tokens: create (shown once, masked until revealed) and import (decoded before import). */
export function TokenPanel({
  siteId,
  pool,
  onTask,
}: {
  siteId: number;
  pool: string;
  onTask: (taskId: number) => void;
}) {
  const trpc = useTRPC();
  const toast = useToast();
  const [token, setToken] = useState<string | null>(null);
  const [revealed, setRevealed] = useState(false);
  const [paste, setPaste] = useState('');
  const [direction, setDirection] = useState<'rx-tx' | 'rx-only'>('rx-tx');
  const [localSiteName, setLocalSiteName] = useState('');
  const create = useMutation(
    trpc.ceph.createToken.mutationOptions({
      onSuccess: (r) => (setToken(r.token), setRevealed(false)),
    }),
  );
  // A POST (mutation), never a GET: the token carries a cephx key and must not end up in a URL.
  const preview = useMutation(trpc.ceph.previewToken.mutationOptions({ meta: { errorToast: false } }));
  const { mutate: decode, reset: clearPreview } = preview;
  useEffect(() => {
    if (!paste.trim()) return clearPreview();
    const t = setTimeout(() => decode({ token: paste }), 250);
    return () => clearTimeout(t);
  }, [paste, decode, clearPreview]);
  // Only the answer for the token now in the box counts.
  const current = preview.variables?.token === paste;
  const decoded = current ? preview.data : undefined;
  const previewError = current ? preview.error : null;
  const imp = useMutation(
    trpc.ceph.importToken.mutationOptions({
      onSuccess: (r) => (setPaste(''), onTask(r.taskId)),
    }),
  );
  return (
    <Card title={`Bootstrap tokens for pool ${pool}`}>
      <div className="grid gap-4 lg:grid-cols-2">
        <div className="space-y-2">
          <h3 className="text-sm font-semibold">Create a token here</h3>
          <p className="text-xs text-zinc-500">
            Import it on the other cluster to pair the two. The token carries a Ceph key: treat it as a
            secret. Tandem shows it once and never stores it.
          </p>
          <Button busy={create.isPending} onClick={() => create.mutate({ siteId, pool })}>
            Create token
          </Button>
          {token && (
            <div
              className="space-y-2 rounded-md border border-amber-300 bg-amber-50 p-3 dark:border-amber-700 dark:bg-amber-950"
              role="region"
              aria-label="New bootstrap token"
            >
              <p className="text-xs font-medium text-amber-800 dark:text-amber-200">
                Secret — copy it now; it will not be shown again.
              </p>
              <code
                className="block max-h-24 overflow-auto text-xs break-all"
                data-testid="bootstrap-token"
                data-token={revealed ? token : undefined}
              >
                {revealed ? token : '•'.repeat(48)}
              </code>
              <div className="flex gap-2">
                <Button onClick={() => setRevealed((r) => !r)}>{revealed ? 'Hide' : 'Reveal'}</Button>
                <Button
                  onClick={() =>
                    navigator.clipboard.writeText(token).then(
                      () => toast.success('Token copied to the clipboard'),
                      () => toast.error('The browser refused clipboard access; reveal and copy it by hand'),
                    )
                  }
                >
                  Copy
                </Button>
                <Button variant="ghost" onClick={() => setToken(null)}>
                  Forget it
                </Button>
              </div>
            </div>
          )}
        </div>
        <form
          className="space-y-2"
          onSubmit={(e) => {
            e.preventDefault();
            imp.mutate({ siteId, pool, token: paste, direction, localSiteName: localSiteName || undefined });
          }}
        >
          <h3 className="text-sm font-semibold">Import a token from the other cluster</h3>
          <TextArea
            label="Bootstrap token"
            value={paste}
            onChange={(e) => setPaste(e.target.value)}
            autoComplete="off"
            error={paste.trim() && previewError ? errorText(previewError) : undefined}
          />
          {decoded && (
            <dl className="grid grid-cols-[auto_1fr] gap-x-3 text-xs" data-testid="token-preview">
              <dt className="text-zinc-500">Peer fsid</dt>
              <dd className="font-mono">{decoded.fsid}</dd>
              <dt className="text-zinc-500">Monitors</dt>
              <dd className="font-mono break-all">{decoded.monHost}</dd>
              <dt className="text-zinc-500">Client</dt>
              <dd className="font-mono">{decoded.clientId}</dd>
            </dl>
          )}
          <div className="grid grid-cols-2 gap-2">
            <Select
              label="Direction"
              value={direction}
              onChange={(e) => setDirection(e.target.value as 'rx-tx' | 'rx-only')}
            >
              <option value="rx-tx">rx-tx (both ways)</option>
              <option value="rx-only">rx-only (receive here)</option>
            </Select>
            <TextInput
              label="Local site name (optional)"
              value={localSiteName}
              onChange={(e) => setLocalSiteName(e.target.value)}
            />
          </div>
          <Button type="submit" variant="primary" disabled={!decoded} busy={imp.isPending}>
            Import token
          </Button>
          {imp.error && <ErrorBox error={errorText(imp.error)} />}
        </form>
      </div>
    </Card>
  );
}
