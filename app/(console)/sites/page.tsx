'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { useToast } from '@/components/toast';
import { errorText, useTRPC, invalidateAfterChange } from '@/components/trpc';
import { Badge, Button, Card, ConfirmDialog, DemoBadge, Empty, ErrorBox, PageTitle } from '@/components/ui';
import { SecretForm, SiteForm } from './site-form';

interface Check {
  name: string;
  ok: boolean;
  message: string;
}

export default function SitesPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const router = useRouter();
  const sites = useQuery(trpc.sites.list.queryOptions());
  const demo = useQuery(trpc.demo.status.queryOptions());
  const [adding, setAdding] = useState<null | 'node' | 'ceph'>(null);
  const [checks, setChecks] = useState<Record<number, Check[]>>({});
  const [hostKey, setHostKey] = useState<{
    id: number;
    name: string;
    presented: string;
    pinned: string | null;
  } | null>(null);
  const [removing, setRemoving] = useState<{ id: number; name: string } | null>(null);
  const [removingDemo, setRemovingDemo] = useState(false);
  const [reentering, setReentering] = useState<number | null>(null);
  const refresh = () => void invalidateAfterChange(qc);

  const test = useMutation(
    trpc.sites.testConnection.mutationOptions({
      onSuccess: (r, v) => {
        setChecks((c) => ({ ...c, [v.id]: r.checks }));
        if (r.ok) toast.success('Connection works');
        else toast.error(r.checks.find((c) => !c.ok)?.message ?? 'Connection failed');
      },
    }),
  );
  const fetchKey = useMutation(trpc.sites.hostKey.mutationOptions());
  const pin = useMutation(
    trpc.sites.pinHostKey.mutationOptions({
      onSuccess: () => {
        toast.success('Host key pinned');
        setHostKey(null);
        refresh();
      },
    }),
  );
  const check = useMutation(
    trpc.sites.check.mutationOptions({
      onSuccess: (r) => router.push(`/tasks/${r.taskId}`),
    }),
  );
  const remove = useMutation(
    trpc.sites.remove.mutationOptions({
      onSuccess: (s) => {
        toast.success(`Removed ${s.name}`);
        setRemoving(null);
        refresh();
      },
    }),
  );
  const demoCreate = useMutation(
    trpc.demo.create.mutationOptions({
      onSuccess: () => (toast.success('Demo environment created'), refresh()),
    }),
  );
  const demoRemove = useMutation(
    trpc.demo.remove.mutationOptions({
      onSuccess: () => (toast.success('Demo environment removed'), setRemovingDemo(false), refresh()),
    }),
  );

  return (
    <>
      <PageTitle
        actions={
          <>
            <Button variant="primary" onClick={() => setAdding('node')}>
              Add node
            </Button>
            <Button variant="primary" onClick={() => setAdding('ceph')}>
              Add Ceph cluster
            </Button>
          </>
        }
      >
        Sites
      </PageTitle>
      {adding && (
        <Card title={adding === 'node' ? 'Add a compute node' : 'Add a Ceph cluster'} className="mb-4">
          <SiteForm
            kind={adding}
            onDone={(name) => {
              toast.success(`Registered ${name}`);
              setAdding(null);
              refresh();
            }}
            onCancel={() => setAdding(null)}
          />
        </Card>
      )}
      <Card
        className="mb-4"
        title={
          <span className="flex items-center gap-2">
            Demo environment <DemoBadge />
          </span>
        }
        actions={
          demo.data?.present ? (
            <Button variant="danger" onClick={() => setRemovingDemo(true)}>
              Remove demo
            </Button>
          ) : (
            <Button busy={demoCreate.isPending} onClick={() => demoCreate.mutate()}>
              Create demo sites
            </Button>
          )
        }
      >
        <p className="text-sm text-zinc-600 dark:text-zinc-400">
          Three simulated compute nodes and two simulated Ceph clusters, run inside Tandem, for trying the
          console without real machines.
          {demo.data?.present ? ' They are present and marked “Demo”.' : ' Not present.'}
        </p>
      </Card>
      {sites.error && <ErrorBox error={errorText(sites.error)} />}
      <Card title="Registered sites">
        {sites.data?.length === 0 && <Empty>No sites registered.</Empty>}
        <ul className="divide-y divide-zinc-100 dark:divide-zinc-800">
          {sites.data?.map((s) => {
            const c = s.config as Record<string, unknown>;
            const ssh = typeof c.host === 'string';
            return (
              <li key={s.id} className="py-3" data-testid="site-row">
                <div className="flex flex-wrap items-center justify-between gap-2">
                  <div className="flex items-center gap-2">
                    <span className="font-medium">{s.name}</span>
                    <Badge>{s.kind === 'node' ? 'node' : 'ceph'}</Badge>
                    {s.demo && <DemoBadge />}
                    <span className="text-xs text-zinc-500">
                      {ssh
                        ? `${String(c.user)}@${String(c.host)}:${String(c.port)}`
                        : `local CLI · ${String(c.confPath)}`}
                      {s.kind === 'ceph' && ` · site name ${String(c.siteName)}`}
                    </span>
                    {s.secretError && <Badge tone="error">secret unreadable</Badge>}
                    {ssh &&
                      !s.demo &&
                      (c.hostKeySha256 ? (
                        <Badge tone="ok" title={String(c.hostKeySha256)}>
                          host key pinned
                        </Badge>
                      ) : (
                        <Badge tone="warn">host key not pinned</Badge>
                      ))}
                  </div>
                  <div className="flex flex-wrap gap-1.5">
                    {ssh && !s.demo && (
                      <Button
                        busy={fetchKey.isPending && fetchKey.variables?.id === s.id}
                        onClick={() =>
                          fetchKey.mutate(
                            { id: s.id },
                            { onSuccess: (r) => setHostKey({ id: s.id, name: s.name, ...r }) },
                          )
                        }
                      >
                        Host key…
                      </Button>
                    )}
                    <Button
                      busy={test.isPending && test.variables?.id === s.id}
                      onClick={() => test.mutate({ id: s.id })}
                    >
                      Test connection
                    </Button>
                    <Button
                      busy={check.isPending && check.variables?.id === s.id}
                      onClick={() => check.mutate({ id: s.id })}
                    >
                      Check
                    </Button>
                    {!s.demo && (
                      <Button variant="danger" onClick={() => setRemoving({ id: s.id, name: s.name })}>
                        Remove
                      </Button>
                    )}
                  </div>
                </div>
                {s.secretError && (
                  <div
                    className="mt-2 rounded border border-red-200 bg-red-50 p-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-300"
                    role="alert"
                    data-testid="secret-error"
                  >
                    <p>
                      {s.secretError.charAt(0).toUpperCase() + s.secretError.slice(1)}. Tandem cannot reach
                      this site until then; everything else works.
                      {reentering !== s.id && (
                        <Button className="ml-2" onClick={() => setReentering(s.id)}>
                          Re-enter secret…
                        </Button>
                      )}
                    </p>
                    {reentering === s.id && (
                      <SecretForm
                        site={{ id: s.id, name: s.name, kind: s.kind, config: c }}
                        onDone={() => {
                          toast.success(`Secret of ${s.name} saved`);
                          setReentering(null);
                          refresh();
                        }}
                        onCancel={() => setReentering(null)}
                      />
                    )}
                  </div>
                )}
                {checks[s.id] && (
                  <ul className="mt-2 space-y-0.5 text-sm" aria-label={`Connection checks for ${s.name}`}>
                    {checks[s.id]!.map((ch) => (
                      <li
                        key={ch.name}
                        className={
                          ch.ok ? 'text-emerald-700 dark:text-emerald-400' : 'text-red-700 dark:text-red-400'
                        }
                      >
                        {ch.ok ? '✓' : '✗'} {ch.name}: {ch.message}
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            );
          })}
        </ul>
      </Card>
      <ConfirmDialog
        open={!!hostKey}
        title={`Pin the host key of ${hostKey?.name ?? ''}?`}
        confirmLabel="Trust and pin this key"
        busy={pin.isPending}
        onConfirm={() => hostKey && pin.mutate({ id: hostKey.id, fingerprint: hostKey.presented })}
        onCancel={() => setHostKey(null)}
      >
        <p>The host presents this key fingerprint:</p>
        <p className="font-mono text-xs break-all" data-testid="presented-fingerprint">
          {hostKey?.presented}
        </p>
        {hostKey?.pinned && hostKey.pinned !== hostKey.presented && (
          <p className="font-medium text-red-700 dark:text-red-400">
            It differs from the pinned key {hostKey.pinned}. Pin the new one only if you know the host was
            reinstalled.
          </p>
        )}
        {hostKey?.pinned === hostKey?.presented && (
          <p className="text-emerald-700 dark:text-emerald-400">It matches the pinned key.</p>
        )}
        <p>
          Compare it with <code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code> on the host. Tandem
          refuses to connect to a host whose key differs from the pinned one.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={!!removing}
        title={`Remove site ${removing?.name ?? ''}?`}
        confirmLabel="Remove site"
        danger
        typeToConfirm={removing?.name}
        busy={remove.isPending}
        onConfirm={() => removing && remove.mutate({ id: removing.id })}
        onCancel={() => setRemoving(null)}
      >
        <p>
          Tandem forgets this site and deletes its stored key or keyring. Nothing on the machine itself is
          changed.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={removingDemo}
        title="Remove the demo environment?"
        confirmLabel="Remove demo sites"
        danger
        busy={demoRemove.isPending}
        onConfirm={() => demoRemove.mutate()}
        onCancel={() => setRemovingDemo(false)}
      >
        <p>The five simulated sites disappear from Tandem. History stays. You can create them again later.</p>
      </ConfirmDialog>
    </>
  );
}
