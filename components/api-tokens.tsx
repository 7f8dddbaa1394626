'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { invalidateAfterChange } from '@/components/trpc';
import { useState } from 'react';
import { useToast } from './toast';
import { errorText, fieldErrors, useTRPC } from './trpc';
import {
  Badge,
  Button,
  Card,
  ConfirmDialog,
  copySecret,
  Empty,
  ErrorBox,
  SecretOnce,
  Select,
  TextInput,
  formatTime,
} from './ui';

const ROLES = ['viewer', 'operator', 'admin'] as const;
const DAYS = [7, 30, 90, 180, 366];

/**
 * API tokens: each user's personal tokens for the REST API (/api/v1), with a role no higher than
 * their own and an expiry; an admin sees every token and also makes the Prometheus scrape's
 * `metrics` tokens and tokens for other users.
 */
export function ApiTokensSection({ onToken }: { onToken?: (token: string | null) => void } = {}) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const me = useQuery(trpc.auth.status.queryOptions()).data?.user ?? null;
  const isAdmin = me?.role === 'admin';
  const list = useQuery(trpc.apiTokens.list.queryOptions());
  const [name, setName] = useState('');
  const [scope, setScope] = useState<'api' | 'metrics'>('api');
  const [role, setRole] = useState<(typeof ROLES)[number] | ''>('');
  const [owner, setOwner] = useState('');
  const [days, setDays] = useState(90);
  // The new token lives only in this component's state until it is dismissed.
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<{ id: number; name: string; prefix: string } | null>(null);
  const refresh = () => void invalidateAfterChange(qc, { queryKey: trpc.apiTokens.pathKey() });
  const create = useMutation(
    trpc.apiTokens.create.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => {
        setCreated({ name: r.info.name, token: r.token });
        if (r.info.scope === 'api') onToken?.(r.token);
        setName('');
        refresh();
      },
    }),
  );
  const revoke = useMutation(
    trpc.apiTokens.revoke.mutationOptions({
      onSuccess: (t) => {
        toast.success(`Revoked ${t.name}`);
        setRevoking(null);
        refresh();
      },
    }),
  );
  const fe = fieldErrors(create.error);
  return (
    <Card title="API tokens">
      <p className="mb-3 text-sm text-zinc-600 dark:text-zinc-400">
        Scripts and runbooks call the REST API (<code>/api/v1</code>) with{' '}
        <code>Authorization: Bearer &lt;token&gt;</code>, as you, with the role you give the token (at most
        yours) until it expires; every call is in the history with the token&apos;s name.
        {isAdmin && (
          <>
            {' '}
            A <em>metrics</em> token lets Prometheus scrape <code>/api/metrics</code> and nothing else.
          </>
        )}{' '}
        Tandem keeps only a hash of each token; it is shown once, when it is created.
      </p>
      <form
        className="mb-4 flex flex-wrap items-end gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          setCreated(null);
          create.mutate(
            scope === 'metrics'
              ? { name, scope }
              : {
                  name,
                  scope,
                  role: role || undefined,
                  owner: owner.trim() || undefined,
                  expiresInDays: days,
                },
          );
        }}
      >
        <div className="min-w-64 flex-1">
          <TextInput
            label="Name"
            placeholder={scope === 'metrics' ? 'prometheus' : 'ansible'}
            value={name}
            onChange={(e) => setName(e.target.value)}
            error={fe.name}
            hint="What uses it; shown in the history of its calls."
            required
            maxLength={80}
          />
        </div>
        {isAdmin && (
          <Select
            label="Kind"
            value={scope}
            onChange={(e) => setScope(e.target.value as 'api' | 'metrics')}
            error={fe.scope}
          >
            <option value="api">API</option>
            <option value="metrics">metrics (Prometheus)</option>
          </Select>
        )}
        {scope === 'api' && (
          <>
            <Select
              label="Role"
              value={role}
              onChange={(e) => setRole(e.target.value as (typeof ROLES)[number] | '')}
              error={fe.role}
            >
              <option value="">{owner.trim() ? "the user's" : `mine (${me?.role ?? '…'})`}</option>
              {ROLES.filter((r) => isAdmin || !me || ROLES.indexOf(r) <= ROLES.indexOf(me.role)).map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </Select>
            {isAdmin && (
              <TextInput
                label="For user"
                placeholder={me?.username ?? ''}
                value={owner}
                onChange={(e) => setOwner(e.target.value)}
                error={fe.owner}
                maxLength={64}
              />
            )}
            <Select
              label="Expires in"
              value={String(days)}
              onChange={(e) => setDays(Number(e.target.value))}
              error={fe.expiresInDays}
            >
              {DAYS.map((d) => (
                <option key={d} value={d}>
                  {d} days
                </option>
              ))}
            </Select>
          </>
        )}
        <Button type="submit" variant="primary" busy={create.isPending}>
          Create token
        </Button>
      </form>
      {create.error && !Object.keys(fe).length && (
        <div className="mb-3">
          <ErrorBox error={errorText(create.error)} />
        </div>
      )}
      {created && (
        <SecretOnce
          className="mb-4"
          label="New API token"
          note={<>Token “{created.name}” — copy it now: it is not shown again. Tandem keeps only its hash.</>}
        >
          <code className="block text-xs break-all select-all" data-testid="api-token">
            {created.token}
          </code>
          <div className="flex gap-2">
            <Button
              onClick={() => void copySecret(created.token, toast, 'select the token and copy it by hand')}
            >
              Copy
            </Button>
            <Button
              variant="ghost"
              onClick={() => {
                // Forget it here and in the mutation's cache.
                setCreated(null);
                create.reset();
                onToken?.(null);
              }}
            >
              Done
            </Button>
          </div>
        </SecretOnce>
      )}
      {list.error && <ErrorBox error={errorText(list.error)} />}
      {list.data && !list.data.length && <Empty>No API tokens yet.</Empty>}
      {!!list.data?.length && (
        <table className="w-full text-left text-sm">
          <thead className="text-xs text-zinc-500 uppercase">
            <tr>
              <th className="py-1">Name</th>
              <th>Token</th>
              <th>Kind</th>
              <th>Acts as</th>
              <th>Created</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((t) => (
              <tr key={t.id} className="border-t border-zinc-100 dark:border-zinc-800">
                <td className="py-1.5 font-medium">{t.name}</td>
                <td className="font-mono text-xs">{t.prefix}…</td>
                <td>{t.scope}</td>
                <td>{t.owner ? `${t.owner} (${t.role})` : '—'}</td>
                <td>
                  {formatTime(t.createdAt)} <span className="text-zinc-500">by {t.createdBy}</span>
                </td>
                <td>{t.expiresAt ? formatTime(t.expiresAt) : '—'}</td>
                <td>{t.lastUsedAt ? formatTime(t.lastUsedAt) : 'never'}</td>
                <td>
                  {t.revokedAt ? (
                    <Badge tone="muted" title={`revoked ${formatTime(t.revokedAt)}`}>
                      revoked
                    </Badge>
                  ) : t.expired ? (
                    <Badge tone="muted">expired</Badge>
                  ) : (
                    <Badge tone="ok">active</Badge>
                  )}
                </td>
                <td className="py-1 text-right">
                  {!t.revokedAt && (
                    <Button
                      variant="danger"
                      onClick={() => setRevoking({ id: t.id, name: t.name, prefix: t.prefix })}
                    >
                      Revoke
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ConfirmDialog
        open={!!revoking}
        title={`Revoke the token ${revoking?.name ?? ''}?`}
        confirmLabel="Revoke token"
        danger
        busy={revoke.isPending}
        onConfirm={() => revoking && revoke.mutate({ id: revoking.id })}
        onCancel={() => setRevoking(null)}
      >
        <p>
          Clients using <code>{revoking?.prefix}…</code> are refused from now on (a script gets 401; a
          Prometheus scraping with it sees its target go down). This cannot be undone: create a new token for
          them.
        </p>
      </ConfirmDialog>
    </Card>
  );
}
