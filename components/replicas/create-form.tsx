'use client';

import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useForm, useWatch } from 'react-hook-form';
import type { z } from 'zod';
import { replicaCreateFormDefaults, replicaCreateFormSchema } from '@/server/domain/replicas/rules';
import { FormError, formErrors } from '../form';
import { RpoRiskOverride } from '../protection/rpo-risk';
import { fieldErrors, useTRPC, type RouterOutputs } from '../trpc';
import { Checkbox, Button, FieldError, Select, TextInput } from '../ui';

type FormIn = z.input<typeof replicaCreateFormSchema>;
type FormOut = z.output<typeof replicaCreateFormSchema>;
type VmInfo = NonNullable<RouterOutputs['overview']['vms']['nodes'][number]['vms']>[number];

/** Create a replica with every Danube field; the server validates against the live nodes. */
export function CreateReplicaForm({
  siteId,
  vm,
  onCreated,
  onCancel,
}: {
  siteId: number;
  vm: VmInfo;
  onCreated: (taskId: number) => void;
  onCancel: () => void;
}) {
  const trpc = useTRPC();
  const sites = useQuery(trpc.sites.list.queryOptions());
  const targets = (sites.data ?? []).filter((s) => s.kind === 'node' && s.id !== siteId);
  // One schema with the server: a field is checked here before the round trip, by the same rules.
  const form = useForm<FormIn, unknown, FormOut>({
    resolver: zodResolver(replicaCreateFormSchema),
    defaultValues: replicaCreateFormDefaults(),
    mode: 'onTouched',
  });
  const { register, handleSubmit, setValue, formState, control } = form;
  const targetSiteId = useWatch({ control, name: 'targetSiteId' });
  const target = targets.find((t) => String(t.id) === targetSiteId);
  const pools = ((target?.config as { zpools?: string[] } | undefined)?.zpools ?? []) as string[];
  const create = useMutation(
    trpc.replicas.create.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => onCreated(r.taskId),
    }),
  );
  const [acceptRpoRisk, setAcceptRpoRisk] = useState(false);
  // The browser's findings first; the server's (live facts: zpools, capacity, RPO) where it has none.
  const fe: Record<string, string> = { ...fieldErrors(create.error), ...formErrors(formState.errors) };
  return (
    <form
      className="grid gap-3 md:grid-cols-3"
      noValidate
      onSubmit={handleSubmit((v) =>
        create.mutate({
          ...v,
          diskZpools: Object.fromEntries(Object.entries(v.diskZpools).filter(([, p]) => p)),
          vmName: vm.name,
          sourceSiteId: siteId,
          acceptRpoRisk: acceptRpoRisk || undefined,
        }),
      )}
    >
      <FormError error={create.error} fields={fe} className="md:col-span-3" />
      <TextInput
        label="Replica name"
        {...register('name')}
        error={fe.name}
        hint="1–24 characters: letters, digits, . _ -"
        required
      />
      <Select
        label="Target node"
        {...register('targetSiteId', { onChange: () => setValue('rootZpool', '') })}
        error={fe.targetSiteId}
      >
        <option value="">Choose a node…</option>
        {targets.map((t) => (
          <option key={t.id} value={t.id}>
            {t.name}
          </option>
        ))}
      </Select>
      <Select label="Root zpool" {...register('rootZpool')} error={fe.rootZpool} disabled={!target}>
        <option value="">{target ? 'Choose a zpool…' : 'Choose a node first'}</option>
        {pools.map((p) => (
          <option key={p}>{p}</option>
        ))}
      </Select>
      {vm.disks.map((d) => (
        <Select
          key={d.device}
          label={`zpool for disk ${d.device}`}
          {...register(`diskZpools.${d.device}`)}
          error={fe[`diskZpools.${d.device}`]}
          disabled={!target}
        >
          <option value="">Same as root zpool</option>
          {pools.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </Select>
      ))}
      <div className="flex flex-col gap-1">
        <TextInput
          label="Sleep time between syncs (s)"
          type="number"
          {...register('sleepTimeSec')}
          error={fe.sleepTimeSec}
          hint="0–86400"
        />
        <RpoRiskOverride error={create.error} checked={acceptRpoRisk} onChange={setAcceptRpoRisk} />
      </div>
      <TextInput
        label="Bandwidth limit (bytes/s)"
        inputMode="numeric"
        {...register('bandwidthLimit')}
        error={fe.bandwidthLimit}
        hint="e.g. 8M or 8388608; empty for no limit"
      />
      <TextInput
        label="Recovery points to keep"
        type="number"
        {...register('keepSnapshots')}
        error={fe.keepSnapshots}
      />
      <Checkbox {...register('reserveResources')}>
        Reserve {vm.vcpus} vCPUs and {vm.memoryMiB} MiB on the target
      </Checkbox>
      <FieldError error={fe.reserveResources} className="md:col-span-2" />
      <Checkbox {...register('enabled')}>Enabled (sync continuously)</Checkbox>
      <FieldError error={fe.vmName} className="md:col-span-3" />
      <div className="flex gap-2 md:col-span-3">
        <Button type="submit" variant="primary" busy={create.isPending}>
          Create replica and start the initial sync
        </Button>
        <Button onClick={onCancel}>Cancel</Button>
      </div>
    </form>
  );
}
