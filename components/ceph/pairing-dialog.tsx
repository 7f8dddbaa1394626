'use client';

import { useMutation } from '@tanstack/react-query';
import { useEffect, useId, useState } from 'react';
import { useToast } from '../toast';
import { errorText, useTRPC } from '../trpc';
import {
  Button,
  copySecret,
  ErrorBox,
  SecretOnce,
  Select,
  TextArea,
  TextInput,
  cx,
  dialogCls,
  useModalDialog,
} from '../ui';
import type { PairStep } from './ceph-url';

const STEPS: { id: PairStep; title: (cluster: string) => string }[] = [
  { id: 'create', title: (c) => `Create a token on ${c}` },
  { id: 'import', title: (c) => `Import a token into ${c}` },
];

/**
 * Pairing a pool of two clusters by bootstrap token, as a guided dialog: create the token on one
 * cluster (shown once, masked until revealed), copy it, then paste and import it on the other
 * (decoded before import). After copying, "Open <cluster>" goes on to the import on a registered
 * cluster's page.
 */
export function PairingDialog({
  siteId,
  clusterName,
  pool,
  others,
  step: initialStep,
  onTask,
  onContinueOn,
  onClose,
}: {
  siteId: number;
  clusterName: string;
  pool: string;
  /** The other registered Ceph clusters (the import can go on on their pages). */
  others: { id: number; name: string }[];
  step: PairStep;
  onTask: (taskId: number) => void;
  /** Closes the dialog and opens the import step on another cluster's page. */
  onContinueOn: (siteId: number) => void;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const toast = useToast();
  const ref = useModalDialog(true);
  const titleId = useId();
  const [step, setStep] = useState<PairStep>(initialStep);
  const [token, setToken] = useState<string | null>(null);
  const [revealed, setRevealed] = useState(false);
  const [copied, setCopied] = useState(false);
  const [paste, setPaste] = useState('');
  const [direction, setDirection] = useState<'rx-tx' | 'rx-only'>('rx-tx');
  const [localSiteName, setLocalSiteName] = useState('');
  const create = useMutation(
    trpc.ceph.createToken.mutationOptions({
      onSuccess: (r) => (setToken(r.token), setRevealed(false), setCopied(false)),
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
      onSuccess: (r) => (setPaste(''), onTask(r.taskId), onClose()),
    }),
  );

  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      data-testid="pairing-dialog"
      data-step={step}
      onCancel={(e) => (e.preventDefault(), onClose())}
      className={dialogCls.replace('max-w-lg', 'max-w-2xl')}
    >
      <h2 id={titleId} className="mb-1 text-lg font-semibold">
        Pair pool {pool} by bootstrap token
      </h2>
      <p className="mb-3 text-sm text-zinc-600 dark:text-zinc-400">
        Create a token on one cluster, copy it, then paste and import it on the other: the two then mirror
        pool {pool}.
      </p>
      <nav aria-label="Pairing steps" className="mb-4">
        <ol className="flex flex-wrap gap-2 text-sm">
          {STEPS.map((s, i) => (
            <li key={s.id}>
              <button
                type="button"
                aria-current={step === s.id ? 'step' : undefined}
                onClick={() => setStep(s.id)}
                className={cx(
                  'inline-flex items-center gap-2 rounded-md border px-3 py-1.5 font-medium',
                  step === s.id
                    ? 'border-brand-600 bg-brand-50 text-brand-700 dark:border-brand-500 dark:bg-zinc-800 dark:text-zinc-100'
                    : 'border-zinc-300 text-zinc-700 hover:bg-zinc-50 dark:border-zinc-600 dark:text-zinc-300 dark:hover:bg-zinc-800',
                )}
              >
                <span
                  aria-hidden
                  className="inline-flex size-5 items-center justify-center rounded-full bg-zinc-200 text-xs dark:bg-zinc-700"
                >
                  {i + 1}
                </span>
                {s.title(clusterName)}
              </button>
            </li>
          ))}
        </ol>
      </nav>

      {step === 'create' && (
        <div className="space-y-3 text-sm">
          <p className="text-xs text-zinc-500">
            The token carries a Ceph key: treat it as a secret. Tandem shows it once and never stores it.
          </p>
          <Button
            variant={token ? 'secondary' : 'primary'}
            busy={create.isPending}
            onClick={() => create.mutate({ siteId, pool })}
          >
            {token ? 'Create another token' : 'Create token'}
          </Button>
          {create.error && <ErrorBox error={errorText(create.error)} />}
          {token && (
            <SecretOnce label="New bootstrap token" note="Secret — copy it now; it will not be shown again.">
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
                    void copySecret(token, toast, 'reveal and copy it by hand').then(
                      (ok) => ok && setCopied(true),
                    )
                  }
                >
                  Copy
                </Button>
                <Button variant="ghost" onClick={() => (setToken(null), setCopied(false))}>
                  Forget it
                </Button>
              </div>
            </SecretOnce>
          )}
          {token && (
            <div
              className="space-y-2 border-t border-zinc-200 pt-3 dark:border-zinc-700"
              data-testid="pair-next"
            >
              <p className="font-medium">
                Next: {copied ? 'import it' : 'copy it, then import it'} on the other cluster.
              </p>
              {others.length > 0 && (
                <div className="flex flex-wrap gap-2">
                  {others.map((o) => (
                    <Button key={o.id} variant="primary" onClick={() => onContinueOn(o.id)}>
                      Open {o.name} to import it
                    </Button>
                  ))}
                </div>
              )}
              <p className="text-xs text-zinc-500">
                The token is forgotten once this dialog closes: copy it first. On a cluster this Tandem does
                not manage, import it with <code>rbd mirror pool peer bootstrap import</code>.
              </p>
            </div>
          )}
        </div>
      )}

      {step === 'import' && (
        <form
          className="space-y-3 text-sm"
          onSubmit={(e) => {
            e.preventDefault();
            imp.mutate({ siteId, pool, token: paste, direction, localSiteName: localSiteName || undefined });
          }}
        >
          <p className="text-xs text-zinc-500">
            Paste the token created on the other cluster: {clusterName} becomes its peer for pool {pool}.
          </p>
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
      )}

      <div className="mt-4 flex justify-end">
        <Button onClick={onClose}>Close</Button>
      </div>
    </dialog>
  );
}
