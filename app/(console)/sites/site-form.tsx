'use client';

import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { useTextFields } from '@/app/_components/text-fields';
import { errorText, fieldErrors, useTRPC } from '@/components/trpc';
import { Button, ErrorBox, Select, TextArea, TextInput } from '@/components/ui';

/** Registers a node or a Ceph cluster; secrets go up once and never come back. */
export function SiteForm({
  kind,
  onDone,
  onCancel,
}: {
  kind: 'node' | 'ceph';
  onDone: (name: string) => void;
  onCancel: () => void;
}) {
  const trpc = useTRPC();
  const create = useMutation(
    trpc.sites.create.mutationOptions({ meta: { errorToast: false }, onSuccess: (s) => onDone(s.name) }),
  );
  const fe = fieldErrors(create.error);
  /** The server's complaint about a field, which it files under the config or the secret. */
  const f = (k: string) => fe[k] ?? fe[`config.${k}`] ?? fe[`secret.${k}`];
  const { values: v, field } = useTextFields(
    {
      name: '',
      host: '',
      port: '22',
      user: 'root',
      hypervisor: 'libvirt',
      zpools: 'zones',
      access: 'local',
      siteName: '',
      cluster: 'ceph',
      confPath: '/etc/ceph/ceph.conf',
      clientId: 'admin',
      keyringPath: '',
      privateKey: '',
      keyring: '',
    },
    f,
  );
  const ssh = kind === 'node' || v.access === 'ssh';
  const submit = () => {
    const config: Record<string, string | number | boolean | string[] | null | undefined> =
      kind === 'node'
        ? {
            host: v.host,
            port: Number(v.port),
            user: v.user,
            hypervisor: v.hypervisor,
            zpools: v.zpools.split(/[\s,]+/).filter(Boolean),
          }
        : {
            access: v.access,
            siteName: v.siteName,
            cluster: v.cluster,
            clientId: v.clientId,
            confPath: v.confPath || null,
            keyringPath: v.keyringPath || null,
            ...(v.access === 'ssh' ? { host: v.host, port: Number(v.port), user: v.user } : {}),
          };
    create.mutate({
      name: v.name,
      kind,
      config,
      secret: {
        privateKey: ssh ? v.privateKey : '',
        keyring: kind === 'ceph' && v.access === 'local' ? v.keyring : '',
      },
    });
  };
  return (
    <form
      className="grid gap-3 md:grid-cols-2"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {create.error && !Object.keys(fe).length && (
        <div className="md:col-span-2">
          <ErrorBox error={errorText(create.error)} />
        </div>
      )}
      <TextInput label="Name in Tandem" {...field('name')} required />
      {kind === 'ceph' && (
        <>
          <TextInput
            label="Mirroring site name"
            {...field('siteName')}
            hint="As in rbd mirror pool info --site-name"
            required
          />
          <Select label="Access" {...field('access')}>
            <option value="local">rbd/ceph CLI on the Tandem host</option>
            <option value="ssh">rbd/ceph CLI over SSH on an admin host</option>
          </Select>
          <TextInput label="Cluster name" {...field('cluster')} />
          <TextInput label="ceph.conf path" {...field('confPath')} />
          <TextInput label="Client id" {...field('clientId')} hint="Without “client.”" />
          <TextInput label="Keyring path (optional)" {...field('keyringPath')} />
          {v.access === 'local' && (
            <TextArea
              label="Or paste the keyring (stored encrypted)"
              {...field('keyring')}
              autoComplete="off"
            />
          )}
        </>
      )}
      {ssh && (
        <>
          <TextInput label="SSH host" {...field('host')} required />
          <TextInput label="SSH port" type="number" {...field('port')} />
          <TextInput label="SSH user" {...field('user')} />
        </>
      )}
      {kind === 'node' && (
        <>
          <Select label="Hypervisor" {...field('hypervisor')}>
            <option value="libvirt">libvirt (virsh)</option>
            <option value="vmadm">SmartOS vmadm</option>
          </Select>
          <TextInput
            label="zpools"
            {...field('zpools')}
            error={f('zpools') ?? fe['config.zpools.0']}
            hint="Space or comma separated"
          />
        </>
      )}
      {ssh && (
        <div className="md:col-span-2">
          <TextArea
            label="SSH private key (stored encrypted, never shown again)"
            {...field('privateKey')}
            autoComplete="off"
            required
          />
        </div>
      )}
      <div className="flex gap-2 md:col-span-2">
        <Button type="submit" variant="primary" busy={create.isPending}>
          Register
        </Button>
        <Button onClick={onCancel}>Cancel</Button>
      </div>
      {ssh && (
        <p className="text-xs text-zinc-500 md:col-span-2">
          After registering, use “Host key…” to see and pin the host key fingerprint before the first
          connection.
        </p>
      )}
    </form>
  );
}

/** Replaces the stored secret of a site (an SSH private key, or a pasted keyring of local Ceph access). */
export function SecretForm({
  site,
  onDone,
  onCancel,
}: {
  site: { id: number; name: string; kind: 'node' | 'ceph'; config: Record<string, unknown> };
  onDone: () => void;
  onCancel: () => void;
}) {
  const trpc = useTRPC();
  const ssh = site.kind === 'node' || site.config.access === 'ssh';
  const [value, setValue] = useState('');
  const update = useMutation(
    trpc.sites.update.mutationOptions({ meta: { errorToast: false }, onSuccess: () => onDone() }),
  );
  const fe = fieldErrors(update.error);
  const field = ssh ? 'privateKey' : 'keyring';
  return (
    <form
      className="mt-2 grid gap-2"
      aria-label={`New secret for ${site.name}`}
      onSubmit={(e) => {
        e.preventDefault();
        update.mutate({ id: site.id, secret: ssh ? { privateKey: value } : { keyring: value } });
      }}
    >
      {update.error && !Object.keys(fe).length && <ErrorBox error={errorText(update.error)} />}
      <TextArea
        label={
          ssh
            ? 'SSH private key (stored encrypted, never shown again)'
            : 'Ceph keyring (stored encrypted, never shown again)'
        }
        value={value}
        onChange={(e) => setValue(e.target.value)}
        error={fe[`secret.${field}`] ?? fe[field]}
        autoComplete="off"
        required
      />
      <div className="flex gap-2">
        <Button type="submit" variant="primary" busy={update.isPending}>
          Save secret
        </Button>
        <Button onClick={onCancel}>Cancel</Button>
      </div>
    </form>
  );
}
