'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { VmInfo } from '@/server/adapters/node/types';
import { parseByteRate } from '@/server/domain/replicas/rules';
import { RpoRiskOverride } from '../protection/rpo-risk';
import { errorText, fieldErrors, useTRPC } from '../trpc';
import { Button, ErrorBox, Select, TextInput } from '../ui';

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
  const [v, setV] = useState({
    name: '',
    targetSiteId: '',
    rootZpool: '',
    sleepTimeSec: '60',
    enabled: true,
    bandwidthLimit: '',
    reserveResources: true,
    keepSnapshots: '3',
  });
  const [diskZpools, setDiskZpools] = useState<Record<string, string>>({});
  const target = targets.find((t) => String(t.id) === v.targetSiteId);
  const pools = ((target?.config as { zpools?: string[] } | undefined)?.zpools ?? []) as string[];
  const create = useMutation(
    trpc.replicas.create.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => onCreated(r.taskId),
    }),
  );
  const rate = parseByteRate(v.bandwidthLimit);
  const [showRate, setShowRate] = useState(false);
  const [acceptRpoRisk, setAcceptRpoRisk] = useState(false);
  const fe: Record<string, string> = {
    ...fieldErrors(create.error),
    ...(showRate && !rate.ok ? { bandwidthLimit: rate.message } : {}),
  };
  const num = (s: string) => (s.trim() === '' ? NaN : Number(s));
  return (
    <form
      className="grid gap-3 md:grid-cols-3"
      onSubmit={(e) => {
        e.preventDefault();
        setShowRate(true);
        if (!rate.ok) return;
        create.mutate({
          name: v.name,
          vmName: vm.name,
          sourceSiteId: siteId,
          targetSiteId: Number(v.targetSiteId) || 0,
          rootZpool: v.rootZpool,
          diskZpools: Object.fromEntries(Object.entries(diskZpools).filter(([, p]) => p)),
          sleepTimeSec: num(v.sleepTimeSec),
          enabled: v.enabled,
          bandwidthLimit: rate.value,
          reserveResources: v.reserveResources,
          keepSnapshots: num(v.keepSnapshots),
          acceptRpoRisk: acceptRpoRisk || undefined,
        });
      }}
    >
      {create.error && !Object.keys(fe).length && (
        <div className="md:col-span-3">
          <ErrorBox error={errorText(create.error)} />
        </div>
      )}
      <TextInput
        label="Replica name"
        value={v.name}
        onChange={(e) => setV({ ...v, name: e.target.value })}
        error={fe.name}
        hint="1–24 characters: letters, digits, . _ -"
        required
      />
      <Select
        label="Target node"
        value={v.targetSiteId}
        onChange={(e) => setV({ ...v, targetSiteId: e.target.value, rootZpool: '' })}
        error={fe.targetSiteId}
      >
        <option value="">Choose a node…</option>
        {targets.map((t) => (
          <option key={t.id} value={t.id}>
            {t.name}
          </option>
        ))}
      </Select>
      <Select
        label="Root zpool"
        value={v.rootZpool}
        onChange={(e) => setV({ ...v, rootZpool: e.target.value })}
        error={fe.rootZpool}
        disabled={!target}
      >
        <option value="">{target ? 'Choose a zpool…' : 'Choose a node first'}</option>
        {pools.map((p) => (
          <option key={p}>{p}</option>
        ))}
      </Select>
      {vm.disks.map((d) => (
        <Select
          key={d.device}
          label={`zpool for disk ${d.device}`}
          value={diskZpools[d.device] ?? ''}
          onChange={(e) => setDiskZpools({ ...diskZpools, [d.device]: e.target.value })}
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
          value={v.sleepTimeSec}
          onChange={(e) => setV({ ...v, sleepTimeSec: e.target.value })}
          error={fe.sleepTimeSec}
          hint="0–86400"
        />
        <RpoRiskOverride error={create.error} checked={acceptRpoRisk} onChange={setAcceptRpoRisk} />
      </div>
      <TextInput
        label="Bandwidth limit (bytes/s)"
        inputMode="numeric"
        value={v.bandwidthLimit}
        onChange={(e) => setV({ ...v, bandwidthLimit: e.target.value })}
        error={fe.bandwidthLimit}
        hint="e.g. 8M or 8388608; empty for no limit"
      />
      <TextInput
        label="Recovery points to keep"
        type="number"
        value={v.keepSnapshots}
        onChange={(e) => setV({ ...v, keepSnapshots: e.target.value })}
        error={fe.keepSnapshots}
      />
      <label className="flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          checked={v.reserveResources}
          onChange={(e) => setV({ ...v, reserveResources: e.target.checked })}
        />
        Reserve {vm.vcpus} vCPUs and {vm.memoryMiB} MiB on the target
      </label>
      {fe.reserveResources && (
        <p className="text-xs text-red-600 md:col-span-2" role="alert">
          {fe.reserveResources}
        </p>
      )}
      <label className="flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          checked={v.enabled}
          onChange={(e) => setV({ ...v, enabled: e.target.checked })}
        />
        Enabled (sync continuously)
      </label>
      {fe.vmName && (
        <p className="text-xs text-red-600 md:col-span-3" role="alert">
          {fe.vmName}
        </p>
      )}
      <div className="flex gap-2 md:col-span-3">
        <Button type="submit" variant="primary" busy={create.isPending}>
          Create replica and start the initial sync
        </Button>
        <Button onClick={onCancel}>Cancel</Button>
      </div>
    </form>
  );
}
