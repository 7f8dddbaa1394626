'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { FormError } from './form';
import { DataTable, tableColumns } from './data-table';
import { useToast } from './toast';
import { errorText, fieldErrors, invalidateAfterChange, useTRPC, type RouterOutputs } from './trpc';
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

type Token = RouterOutputs['apiTokens']['list'][number];
type Revoking = Pick<Token, 'id' | 'name' | 'prefix'>;
const col = tableColumns<Token>();
const status = (t: Token) => (t.revokedAt ? 'revoked' : t.expired ? 'expired' : 'active');
const when = (d: Date | null, none: string) => (d ? formatTime(d) : none);

/** The tokens' columns; `onRevoke` asks before revoking one. */
function tokenColumns(onRevoke: (t: Revoking) => void) {
  return [
    col.accessor('name', { header: 'Name', meta: { className: 'font-medium' } }),
    col.accessor('prefix', {
      header: 'Token',
      meta: { className: 'font-mono text-xs' },
      cell: (c) => `${c.getValue()}…`,
    }),
    col.accessor('scope', { header: 'Kind' }),
    col.accessor((t) => (t.owner ? `${t.owner} (${t.role})` : '—'), { id: 'owner', header: 'Acts as' }),
    col.accessor('createdAt', {
      header: 'Created',
      sortFn: 'datetime',
      cell: ({ getValue, row: { original: t } }) => (
        <>
          {formatTime(getValue())} <span className="text-zinc-500">by {t.createdBy}</span>
        </>
      ),
    }),
    // Sorted by time: what never expires last, what was never used first.
    col.accessor((t) => t.expiresAt?.getTime() ?? Infinity, {
      id: 'expires',
      header: 'Expires',
      sortFn: 'basic',
      cell: ({ row: { original: t } }) => when(t.expiresAt, '—'),
    }),
    col.accessor((t) => t.lastUsedAt?.getTime() ?? 0, {
      id: 'lastUsed',
      header: 'Last used',
      sortFn: 'basic',
      cell: ({ row: { original: t } }) => when(t.lastUsedAt, 'never'),
    }),
    col.accessor(status, {
      id: 'status',
      header: 'Status',
      cell: ({ getValue, row: { original: t } }) => (
        <Badge
          tone={getValue() === 'active' ? 'ok' : 'muted'}
          title={t.revokedAt ? `revoked ${formatTime(t.revokedAt)}` : undefined}
        >
          {getValue()}
        </Badge>
      ),
    }),
    col.display({
      id: 'actions',
      header: '',
      meta: { className: 'py-1 text-right' },
      cell: ({ row: { original: t } }) =>
        !t.revokedAt && (
          <Button variant="danger" onClick={() => onRevoke({ id: t.id, name: t.name, prefix: t.prefix })}>
            Revoke
          </Button>
        ),
    }),
  ];
}

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
  const [revoking, setRevoking] = useState<Revoking | null>(null);
  const columns = useMemo(() => tokenColumns(setRevoking), []);
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
      <FormError error={create.error} fields={fe} className="mb-3" />
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
      {list.data && (
        <DataTable
          columns={columns}
          data={list.data}
          rowKey={(t) => t.id}
          empty={<Empty>No API tokens yet.</Empty>}
        />
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
