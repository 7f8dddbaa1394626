'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { DataTable, tableColumns } from '@/components/data-table';
import { useToast } from '@/components/toast';
import {
  errorText,
  fieldErrors,
  useTRPC,
  invalidateAfterChange,
  type RouterOutputs,
} from '@/components/trpc';
import {
  Badge,
  Button,
  Card,
  ConfirmDialog,
  Empty,
  ErrorBox,
  Select,
  TextInput,
  formatTime,
} from '@/components/ui';
import { DeliveryStateBadge } from './common';
import { FormError } from '../form';

type Channel = RouterOutputs['alerts']['channels'][number];
const col = tableColumns<Channel>();

/** A webhook's signing secret, shown once after it was made; it cannot be read again. */
function SecretOnce({ name, secret, onDone }: { name: string; secret: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div
      role="status"
      className="mb-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm dark:border-amber-700 dark:bg-amber-950"
      data-testid="webhook-secret"
    >
      <p className="mb-2 font-medium">
        Signing secret of {name} — shown only now. Store it in the receiver; Tandem will not show it again.
      </p>
      <div className="flex flex-wrap items-center gap-2">
        <code
          className="rounded bg-white px-2 py-1 font-mono text-xs break-all select-all dark:bg-zinc-900"
          aria-label="Signing secret"
        >
          {secret}
        </code>
        <Button
          onClick={() =>
            void navigator.clipboard?.writeText(secret).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? 'Copied' : 'Copy'}
        </Button>
        <Button variant="primary" onClick={onDone}>
          I have stored it
        </Button>
      </div>
      <p className="mt-2 text-xs text-zinc-600 dark:text-zinc-300">
        Each request carries <code>X-Tandem-Timestamp</code> (Unix seconds) and{' '}
        <code>X-Tandem-Signature: sha256=&lt;hex&gt;</code>, the HMAC-SHA256 of{' '}
        <code>&lt;timestamp&gt;.&lt;raw body&gt;</code> keyed with this secret.
      </p>
    </div>
  );
}

export function Channels() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const q = useQuery({ ...trpc.alerts.channels.queryOptions(), refetchInterval: 15_000 });
  const [kind, setKind] = useState<'webhook' | 'email'>('webhook');
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [to, setTo] = useState('');
  const [shown, setShown] = useState<{ name: string; secret: string } | null>(null);
  const [removing, setRemoving] = useState<{ id: number; name: string } | null>(null);
  const [rotating, setRotating] = useState<{ id: number; name: string } | null>(null);
  const refresh = () => void invalidateAfterChange(qc, { queryKey: trpc.alerts.channels.queryKey() });
  const create = useMutation(
    trpc.alerts.createChannel.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => {
        toast.success(`Channel ${r.channel.name} added`);
        if (r.secret) setShown({ name: r.channel.name, secret: r.secret });
        setName('');
        setUrl('');
        setTo('');
        refresh();
      },
    }),
  );
  const update = useMutation(trpc.alerts.updateChannel.mutationOptions({ onSuccess: refresh }));
  const test = useMutation(
    trpc.alerts.sendTest.mutationOptions({
      onSuccess: (d) => {
        if (d.state === 'sent') toast.success('Test message sent');
        else toast.error(`Test message failed: ${d.lastError ?? 'unknown error'}`);
        refresh();
      },
    }),
  );
  const remove = useMutation(
    trpc.alerts.removeChannel.mutationOptions({
      onSuccess: () => (toast.success('Channel removed'), setRemoving(null), refresh()),
    }),
  );
  const rotate = useMutation(
    trpc.alerts.rotateChannelSecret.mutationOptions({
      onSuccess: (r) => {
        if (rotating) setShown({ name: rotating.name, secret: r.secret });
        setRotating(null);
      },
    }),
  );
  const testing = test.isPending ? test.variables?.id : undefined;
  const { mutate: sendTest } = test;
  const { mutate: setEnabled } = update;
  const columns = useMemo(
    () => [
      col.accessor('name', {
        header: 'Name',
        meta: { className: 'font-medium' },
        cell: ({ row: { original: c } }) => (
          <>
            {c.name} {!c.enabled && <Badge tone="muted">disabled</Badge>}
          </>
        ),
      }),
      col.accessor((c) => (c.kind === 'webhook' ? 'Webhook' : 'E-mail'), { id: 'kind', header: 'Kind' }),
      col.accessor((c) => (c.kind === 'webhook' ? c.url : c.to.join(', ')), {
        id: 'to',
        header: 'Sends to',
        meta: { className: 'max-w-xs font-mono text-xs break-all' },
      }),
      col.display({
        id: 'last',
        header: 'Last delivery',
        meta: { className: 'text-xs' },
        cell: ({ row: { original: c } }) => (
          <div data-testid="channel-last">
            {c.last ? (
              <>
                <DeliveryStateBadge state={c.last.state} /> {c.last.event}, {formatTime(c.last.at)}
                {c.last.lastError && (
                  <span className="block text-red-700 dark:text-red-300">{c.last.lastError}</span>
                )}
              </>
            ) : (
              '—'
            )}
          </div>
        ),
      }),
      col.display({
        id: 'actions',
        header: () => <span className="sr-only">Actions</span>,
        cell: ({ row: { original: c } }) => (
          <div className="flex flex-wrap justify-end gap-1">
            <Button busy={testing === c.id} onClick={() => sendTest({ id: c.id })}>
              Send test
            </Button>
            <Button onClick={() => setEnabled({ id: c.id, enabled: !c.enabled })}>
              {c.enabled ? 'Disable' : 'Enable'}
            </Button>
            {c.kind === 'webhook' && (
              <Button onClick={() => setRotating({ id: c.id, name: c.name })}>New secret</Button>
            )}
            <Button variant="danger" onClick={() => setRemoving({ id: c.id, name: c.name })}>
              Remove
            </Button>
          </div>
        ),
      }),
    ],
    [testing, sendTest, setEnabled],
  );
  const fe = fieldErrors(create.error);
  const recipients = to
    .split(/[,\s;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  return (
    <Card title="Channels" className="mb-4">
      {shown && <SecretOnce name={shown.name} secret={shown.secret} onDone={() => setShown(null)} />}
      {q.error && <ErrorBox error={errorText(q.error)} />}
      {q.data && (
        <DataTable
          className="mb-4 w-full text-left text-sm"
          data-testid="channels"
          aria-label="Alert channels"
          columns={columns}
          data={q.data}
          rowKey={(c) => c.id}
          rowProps={() => ({ 'data-testid': 'channel-row', className: 'align-top [&>td]:py-2' })}
          empty={<Empty>No channel yet: alerts are shown here but sent nowhere.</Empty>}
        />
      )}
      <h3 className="mb-2 text-sm font-semibold">Add a channel</h3>
      <form
        className="grid items-start gap-3 md:grid-cols-4"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate(kind === 'webhook' ? { kind, name, url } : { kind, name, to: recipients });
        }}
      >
        <Select label="Kind" value={kind} onChange={(e) => setKind(e.target.value as 'webhook' | 'email')}>
          <option value="webhook">Webhook (signed JSON POST)</option>
          <option value="email">E-mail</option>
        </Select>
        <TextInput
          label="Channel name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fe.name}
          maxLength={80}
          required
        />
        {kind === 'webhook' ? (
          <TextInput
            label="URL"
            type="url"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            error={fe.url}
            placeholder="https://hooks.example.com/tandem"
            hint="http:// or https://"
            required
          />
        ) : (
          <TextInput
            label="Recipients"
            value={to}
            onChange={(e) => setTo(e.target.value)}
            error={fe.to ?? Object.entries(fe).find(([k]) => k.startsWith('to.'))?.[1]}
            placeholder="oncall@example.com, dr@example.com"
            hint="Separated by commas"
            required
          />
        )}
        <div className="pt-6">
          <Button type="submit" variant="primary" busy={create.isPending}>
            Add channel
          </Button>
        </div>
      </form>
      <FormError error={create.error} fields={fe} />
      <ConfirmDialog
        open={!!removing}
        title={`Remove channel ${removing?.name ?? ''}?`}
        confirmLabel="Remove channel"
        danger
        busy={remove.isPending}
        onConfirm={() => removing && remove.mutate({ id: removing.id })}
        onCancel={() => setRemoving(null)}
      >
        <p>No alert is sent to it any more; its delivery log goes with it.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={!!rotating}
        title={`New signing secret for ${rotating?.name ?? ''}?`}
        confirmLabel="Make a new secret"
        busy={rotate.isPending}
        onConfirm={() => rotating && rotate.mutate({ id: rotating.id })}
        onCancel={() => setRotating(null)}
      >
        <p>
          The current secret stops being used at once: the receiver rejects Tandem&apos;s requests until it
          has the new one.
        </p>
      </ConfirmDialog>
    </Card>
  );
}
