'use client';

import { zodResolver } from '@hookform/resolvers/zod';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { useFieldArray, useForm, useWatch } from 'react-hook-form';
import type { z } from 'zod';
import { useToast } from '@/components/toast';
import { fieldErrors, useTRPC, invalidateAfterChange } from '@/components/trpc';
import {
  Checkbox,
  Badge,
  Button,
  Card,
  Empty,
  ErrorBox,
  FieldError,
  Select,
  TextArea,
  TextInput,
} from '@/components/ui';
import { FormError, formErrors } from '@/components/form';
import {
  itemLabel,
  objectKey,
  PLAN_GROUPS,
  planInputSchema,
  type PlanInput,
  type PlanItemInput,
} from '@/server/domain/plans/rules';

type Item = PlanItemInput;
type FormIn = z.input<typeof planInputSchema>;

/** A new plan: the schema's defaults. */
const planFields = planInputSchema.shape;
const EMPTY: PlanInput = {
  name: '',
  description: planFields.description.parse(undefined),
  maxParallel: planFields.maxParallel.parse(undefined),
  questionTimeoutSec: planFields.questionTimeoutSec.parse(undefined),
  questionDefault: planFields.questionDefault.parse(undefined),
  items: [],
};

/**
 * The editor of a recovery plan: its objects in priority groups 1 … 5, a VM's wait after start and
 * readiness check, and what a VM depends on. The server checks the plan again (every object exists,
 * is protected, and is in no other plan); its errors land on their fields.
 */
export function PlanForm({ planId, initial }: { planId?: number; initial?: PlanInput }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const router = useRouter();
  // One schema with the server: a mistake shows on its field before the round trip. The server
  // checks the plan again against live facts (objects exist, are protected, in no other plan).
  const form = useForm<FormIn, unknown, PlanInput>({
    resolver: zodResolver(planInputSchema),
    defaultValues: initial ?? EMPTY,
    mode: 'onTouched',
  });
  const { register, handleSubmit, control, setValue, formState } = form;
  const list = useFieldArray({ control, name: 'items' });
  // The items as they are now (the field array's rows carry only their keys).
  const items = (useWatch({ control, name: 'items' }) ?? []) as Item[];
  const replicas = useQuery(trpc.replicas.list.queryOptions());
  const sites = useQuery(trpc.sites.list.queryOptions());
  const ceph = (sites.data ?? []).filter((s) => s.kind === 'ceph');
  const siteName = (id: number) => sites.data?.find((s) => s.id === id)?.name ?? `#${id}`;
  const vmOf = (id: number) => replicas.data?.find((r) => r.id === id);

  const onSaved = (p: { id: number; name: string }) => {
    toast.success(`Plan ${p.name} saved`);
    void invalidateAfterChange(qc, { queryKey: trpc.plans.pathKey() });
    router.push(`/plans/${p.id}`);
  };
  const create = useMutation(
    trpc.plans.create.mutationOptions({ meta: { errorToast: false }, onSuccess: onSaved }),
  );
  const update = useMutation(
    trpc.plans.update.mutationOptions({ meta: { errorToast: false }, onSuccess: onSaved }),
  );
  const saving = planId ? update : create;
  const save = handleSubmit((plan) => {
    if (planId) update.mutate({ id: planId, ...plan });
    else create.mutate(plan);
  });
  // The browser's findings first; the server's where it has none.
  const errors: Record<string, string> = { ...fieldErrors(saving.error), ...formErrors(formState.errors) };
  const asNumber = { setValueAs: Number };

  /** Changes fields of item `i` that are not inputs of their own (readiness, dependencies). */
  const setItem = (i: number, patch: Partial<Item>) => {
    for (const [k, v] of Object.entries(patch))
      setValue(`items.${i}.${k}` as `items.${number}.group`, v as number, {
        shouldDirty: true,
        shouldValidate: formState.isSubmitted,
      });
  };
  /** Removes item `i`, and what depended on it forgets it. */
  const removeItem = (i: number) => {
    const key = objectKey(items[i]!);
    list.replace(
      items
        .filter((_, j) => j !== i)
        .map((it) => ({ ...it, dependsOn: it.dependsOn.filter((d) => d !== key) })),
    );
  };
  const inPlan = new Set(items.map(objectKey));

  // What can be added: replicas protecting a VM now, and RBD scopes of a Ceph cluster.
  const [vm, setVm] = useState('');
  const [vmGroup, setVmGroup] = useState(2);
  const candidates = (replicas.data ?? []).filter(
    (r) => r.state !== 'reinit-required' && r.state !== 'reinit-running' && !inPlan.has(`replica:${r.id}`),
  );
  const [from, setFrom] = useState(0);
  const [to, setTo] = useState(0);
  const [scope, setScope] = useState('');
  const [image, setImage] = useState('');
  const [rbdGroup, setRbdGroup] = useState(1);
  const fromId = from || ceph[0]?.id || 0;
  const toId = to || ceph.find((s) => s.id !== fromId)?.id || 0;
  const status = useQuery({
    ...trpc.ceph.status.queryOptions({ siteId: fromId, waitMs: 1500 }),
    enabled: fromId > 0,
  });
  const scopes = (status.data?.pools ?? [])
    .filter((p) => p.mode !== 'disabled')
    .map((p) => (p.namespace ? `${p.pool}/${p.namespace}` : p.pool));
  const scopeValue = scope || scopes[0] || '';
  const clusters = ceph.map((s) => (
    <option key={s.id} value={s.id}>
      {s.name}
    </option>
  ));

  const addVm = () => {
    const id = Number(vm || candidates[0]?.id);
    if (!id) return;
    list.append({
      kind: 'replica',
      replicaId: id,
      group: vmGroup,
      dependsOn: [],
      waitAfterStartSec: 0,
      readiness: null,
    });
    setVm('');
  };
  const addRbd = () => {
    if (!scopeValue || !fromId || !toId) return;
    const [pool, namespace = ''] = scopeValue.split('/');
    list.append({
      kind: 'rbd',
      protectedSiteId: fromId,
      recoverySiteId: toId,
      pool: pool!,
      namespace,
      image: image.trim() || undefined,
      group: rbdGroup,
      dependsOn: [],
    });
    setImage('');
  };

  // The plan's own labels (itemLabel); a VM's also says where its replica goes.
  const label = (it: Item) => {
    const text = itemLabel(it, { site: siteName, replica: (id) => vmOf(id)?.vmName ?? `replica #${id}` });
    return it.kind === 'replica'
      ? `${text} (${vmOf(it.replicaId)?.sourceSite ?? '?'} → ${vmOf(it.replicaId)?.targetSite ?? '?'})`
      : text;
  };

  return (
    <form className="space-y-4" noValidate onSubmit={save}>
      <FormError error={saving.error} fields={errors} className="" />
      <Card title="Plan">
        <div className="grid gap-3 sm:grid-cols-2">
          <TextInput label="Name" {...register('name')} error={errors.name} maxLength={100} />
          <TextInput
            label="Objects failing over at once (per group)"
            type="number"
            min={1}
            max={16}
            {...register('maxParallel', asNumber)}
            error={errors.maxParallel}
          />
          <TextInput
            label="Question timeout (s)"
            type="number"
            min={10}
            {...register('questionTimeoutSec', asNumber)}
            error={errors.questionTimeoutSec}
            hint="When an object fails, the run asks: retry, skip or abort. Without an answer in time it takes the default."
          />
          <Select label="Default answer" {...register('questionDefault')} error={errors.questionDefault}>
            <option value="abort">Abort the run</option>
            <option value="skip">Skip the object (and what depends on it)</option>
          </Select>
        </div>
        <div className="mt-3">
          <TextArea label="Description" {...register('description')} error={errors.description} rows={2} />
        </div>
      </Card>

      <Card title="Objects, in priority groups">
        {errors.items && <ErrorBox error={errors.items} />}
        {items.length === 0 ? (
          <Empty>No object yet: add RBD pools or images and VM replicas below.</Empty>
        ) : (
          <ol className="space-y-3" aria-label="Plan objects">
            {PLAN_GROUPS.map((g) =>
              items.some((it) => it.group === g) ? (
                <li key={g}>
                  <h3 className="mb-1 text-sm font-semibold">Group {g}</h3>
                  <ul className="space-y-2">
                    {items.map((it, i) =>
                      it.group !== g ? null : (
                        <li
                          key={list.fields[i]?.id ?? objectKey(it)}
                          data-testid="plan-item"
                          data-label={label(it)}
                          className="rounded-md border border-zinc-200 p-2 text-sm dark:border-zinc-700"
                        >
                          <div className="flex flex-wrap items-center gap-2">
                            <Badge tone={it.kind === 'rbd' ? 'info' : 'muted'}>
                              {it.kind === 'rbd' ? 'RBD' : 'VM'}
                            </Badge>
                            <span className="font-medium">{label(it)}</span>
                            <span className="ml-auto flex items-center gap-2">
                              <label className="text-xs">
                                Group{' '}
                                <select
                                  aria-label={`Group of ${label(it)}`}
                                  value={it.group}
                                  onChange={(e) => setItem(i, { group: Number(e.target.value) })}
                                  className="rounded border border-zinc-300 px-1 dark:border-zinc-600 dark:bg-zinc-800"
                                >
                                  {PLAN_GROUPS.map((x) => (
                                    <option key={x}>{x}</option>
                                  ))}
                                </select>
                              </label>
                              <Button
                                variant="ghost"
                                onClick={() => removeItem(i)}
                                aria-label={`Remove ${label(it)}`}
                              >
                                Remove
                              </Button>
                            </span>
                          </div>
                          {it.kind === 'replica' && (
                            <div className="mt-2 grid gap-2 sm:grid-cols-4">
                              <TextInput
                                label="Wait after start (s)"
                                type="number"
                                min={0}
                                {...register(`items.${i}.waitAfterStartSec`, asNumber)}
                                error={errors[`items.${i}.waitAfterStartSec`]}
                              />
                              <TextInput
                                label="Ready when TCP host answers"
                                placeholder="(running is enough)"
                                value={it.readiness?.tcp?.host ?? ''}
                                onChange={(e) =>
                                  setItem(i, {
                                    readiness: e.target.value
                                      ? {
                                          tcp: { host: e.target.value, port: it.readiness?.tcp?.port ?? 22 },
                                          timeoutSec: it.readiness?.timeoutSec ?? 120,
                                        }
                                      : it.readiness
                                        ? { tcp: null, timeoutSec: it.readiness.timeoutSec }
                                        : null,
                                  })
                                }
                                error={errors[`items.${i}.readiness.tcp.host`]}
                              />
                              <TextInput
                                label="on port"
                                type="number"
                                min={1}
                                max={65535}
                                disabled={!it.readiness?.tcp}
                                value={it.readiness?.tcp?.port ?? ''}
                                onChange={(e) =>
                                  it.readiness?.tcp &&
                                  setItem(i, {
                                    readiness: {
                                      ...it.readiness,
                                      tcp: { host: it.readiness.tcp.host, port: Number(e.target.value) },
                                    },
                                  })
                                }
                                error={errors[`items.${i}.readiness.tcp.port`]}
                              />
                              <TextInput
                                label="Ready within (s)"
                                type="number"
                                min={5}
                                value={it.readiness?.timeoutSec ?? 120}
                                onChange={(e) =>
                                  setItem(i, {
                                    readiness: {
                                      tcp: it.readiness?.tcp ?? null,
                                      timeoutSec: Number(e.target.value),
                                    },
                                  })
                                }
                                error={errors[`items.${i}.readiness.timeoutSec`]}
                              />
                              {items.some((d) => d.kind === 'rbd' && d.group < it.group) && (
                                <fieldset className="sm:col-span-4">
                                  <legend className="text-xs font-medium">
                                    Depends on (its disks&apos; storage)
                                  </legend>
                                  {items
                                    .filter((d) => d.kind === 'rbd' && d.group < it.group)
                                    .map((d) => {
                                      const key = objectKey(d);
                                      return (
                                        <Checkbox
                                          key={key}
                                          compact
                                          checked={it.dependsOn.includes(key)}
                                          onChange={(e) =>
                                            setItem(i, {
                                              dependsOn: e.target.checked
                                                ? [...it.dependsOn, key]
                                                : it.dependsOn.filter((x) => x !== key),
                                            })
                                          }
                                        >
                                          {label(d)}
                                        </Checkbox>
                                      );
                                    })}
                                </fieldset>
                              )}
                            </div>
                          )}
                          {Object.entries(errors)
                            .filter(
                              ([k]) =>
                                k === `items.${i}` ||
                                k === `items.${i}.replicaId` ||
                                k === `items.${i}.dependsOn` ||
                                k === `items.${i}.recoverySiteId` ||
                                k === `items.${i}.protectedSiteId`,
                            )
                            .map(([k, m]) => (
                              <FieldError key={k} error={m} className="mt-1" />
                            ))}
                        </li>
                      ),
                    )}
                  </ul>
                </li>
              ) : null,
            )}
          </ol>
        )}
        <div className="mt-4 grid gap-4 md:grid-cols-2">
          <fieldset className="space-y-2 rounded-md border border-zinc-200 p-3 dark:border-zinc-700">
            <legend className="px-1 text-sm font-medium">Add an RBD pool, namespace or image</legend>
            <div className="grid grid-cols-2 gap-2">
              <Select
                label="Production cluster"
                value={fromId}
                onChange={(e) => (setFrom(Number(e.target.value)), setScope(''))}
              >
                {clusters}
              </Select>
              <Select label="Recovery cluster" value={toId} onChange={(e) => setTo(Number(e.target.value))}>
                {clusters}
              </Select>
              <Select
                label="Pool or namespace"
                value={scopeValue}
                onChange={(e) => setScope(e.target.value)}
                hint={
                  status.isLoading
                    ? 'asking the cluster…'
                    : scopes.length
                      ? undefined
                      : 'no mirrored pool on this cluster'
                }
              >
                {scopes.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </Select>
              <TextInput
                label="Image (optional)"
                placeholder="every mirrored image"
                value={image}
                onChange={(e) => setImage(e.target.value)}
              />
              <Select
                label="RBD group"
                value={rbdGroup}
                onChange={(e) => setRbdGroup(Number(e.target.value))}
              >
                {PLAN_GROUPS.map((g) => (
                  <option key={g}>{g}</option>
                ))}
              </Select>
            </div>
            <Button onClick={addRbd} disabled={!scopeValue || !fromId || !toId || fromId === toId}>
              Add RBD object
            </Button>
          </fieldset>
          <fieldset className="space-y-2 rounded-md border border-zinc-200 p-3 dark:border-zinc-700">
            <legend className="px-1 text-sm font-medium">Add a VM (its replica)</legend>
            <div className="grid grid-cols-2 gap-2">
              <Select
                label="VM replica"
                value={vm || String(candidates[0]?.id ?? '')}
                onChange={(e) => setVm(e.target.value)}
                hint={candidates.length ? undefined : 'no replica left to add'}
              >
                {candidates.map((r) => (
                  <option key={r.id} value={r.id}>
                    {r.vmName} ({r.sourceSite} → {r.targetSite})
                  </option>
                ))}
              </Select>
              <Select label="VM group" value={vmGroup} onChange={(e) => setVmGroup(Number(e.target.value))}>
                {PLAN_GROUPS.map((g) => (
                  <option key={g}>{g}</option>
                ))}
              </Select>
            </div>
            <Button onClick={addVm} disabled={!candidates.length}>
              Add VM
            </Button>
          </fieldset>
        </div>
      </Card>
      <div className="flex gap-2">
        <Button variant="primary" type="submit" busy={saving.isPending}>
          {planId ? 'Save plan' : 'Create plan'}
        </Button>
        <Button onClick={() => router.push(planId ? `/plans/${planId}` : '/plans')}>Cancel</Button>
      </div>
    </form>
  );
}
