'use client';

import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm, useWatch } from 'react-hook-form';
import type { z } from 'zod';
import { FormError, formErrors } from '@/components/form';
import { fieldErrors, useTRPC } from '@/components/trpc';
import { siteFormDefaults, siteFormSchema } from '@/server/domain/site-form';
import { Button, Select, TextArea, TextInput } from '@/components/ui';

type FormIn = z.input<typeof siteFormSchema>;
type FormOut = z.output<typeof siteFormSchema>;

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
  // One schema with the server: a field is checked here before the round trip, by the same rules.
  const form = useForm<FormIn, unknown, FormOut>({
    resolver: zodResolver(siteFormSchema),
    defaultValues: siteFormDefaults(kind),
    mode: 'onTouched',
  });
  const access = useWatch({ control: form.control, name: 'access' });
  const server = fieldErrors(create.error);
  const fe = { ...server, ...formErrors(form.formState.errors) };
  /** A field: registered with the form, with its finding (the server files it under config or secret). */
  const field = (k: keyof FormIn) => ({
    ...form.register(k),
    error: fe[k] ?? server[`config.${k}`] ?? server[`secret.${k}`] ?? server[`config.${k}.0`],
  });
  const ssh = kind === 'node' || access === 'ssh';
  return (
    <form
      className="grid gap-3 md:grid-cols-2"
      noValidate
      onSubmit={form.handleSubmit((v) => create.mutate(v))}
    >
      <FormError error={create.error} fields={server} className="md:col-span-2" />
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
          {access === 'local' && (
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
          <TextInput label="zpools" {...field('zpools')} hint="Space or comma separated" />
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
      <FormError error={update.error} fields={fe} className="" />
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
