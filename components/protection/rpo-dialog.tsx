'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { invalidateAfterChange } from '@/components/trpc';
import { useState } from 'react';
import { formatSeconds } from '@/server/domain/protection/format';
import type { ProtectedObject } from './types';
import { errorText, fieldErrors, useTRPC } from '../trpc';
import { Button, dialogCls, useModalDialog, ErrorBox, Select, TextInput } from '../ui';

type ScopeChoice = 'object' | 'pool' | 'namespace' | 'site' | 'default';

/** The pair part of an image's subject (`rbd:<pair>/<pool>/<ns>/<image>`). */
function pairOf(subject: string): string | null {
  return /^rbd:([\d-]+)\//.exec(subject)?.[1] ?? null;
}

/**
 * Sets the RPO target of an object, or of what it inherits from (its Ceph pool or namespace, the
 * site where it is written, the installation), or removes a target so that the scope inherits.
 */
export function RpoDialog({ object, onClose }: { object: ProtectedObject | null; onClose: () => void }) {
  const ref = useModalDialog(!!object);
  return (
    <dialog
      ref={ref}
      onCancel={(e) => (e.preventDefault(), onClose())}
      className={dialogCls}
      aria-labelledby="rpo-dialog-title"
    >
      {object && <RpoForm key={object.subject} object={object} onClose={onClose} />}
    </dialog>
  );
}

function RpoForm({ object, onClose }: { object: ProtectedObject; onClose: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [choice, setChoice] = useState<ScopeChoice>('object');
  const [minutes, setMinutes] = useState(String(Math.round((object.rpoSec / 60) * 100) / 100));
  const done = () => {
    void invalidateAfterChange(qc, { queryKey: trpc.protection.pathKey() });
    onClose();
  };
  const set = useMutation(
    trpc.protection.setRpo.mutationOptions({ meta: { errorToast: false }, onSuccess: done }),
  );
  const setDefault = useMutation(
    trpc.protection.setDefaultRpo.mutationOptions({ meta: { errorToast: false }, onSuccess: done }),
  );
  const clear = useMutation(
    trpc.protection.clearRpo.mutationOptions({ meta: { errorToast: false }, onSuccess: done }),
  );
  const pair = pairOf(object.subject);
  const scope = (): Parameters<typeof set.mutate>[0]['scope'] | null => {
    switch (choice) {
      case 'object':
        return { kind: 'object', subject: object.subject };
      case 'pool':
        return pair && object.pool ? { kind: 'pool', pair, pool: object.pool } : null;
      case 'namespace':
        return pair && object.pool && object.namespace
          ? { kind: 'pool', pair, pool: object.pool, namespace: object.namespace }
          : null;
      case 'site':
        return object.source && object.source.id > 0 ? { kind: 'site', siteId: object.source.id } : null;
      default:
        return null;
    }
  };
  const seconds = Math.round(Number(minutes) * 60);
  const error = set.error ?? setDefault.error ?? clear.error;
  const fe = fieldErrors(error);
  const save = () => {
    if (choice === 'default') return setDefault.mutate({ seconds });
    const s = scope();
    if (s) set.mutate({ scope: s, seconds });
  };
  const remove = () => {
    const s = scope();
    if (s) clear.mutate({ scope: s });
  };
  return (
    <>
      <h2 id="rpo-dialog-title" className="mb-2 text-lg font-semibold">
        RPO of {object.name}
      </h2>
      <p className="mb-3 text-sm text-zinc-600 dark:text-zinc-400">
        Now <b>{formatSeconds(object.rpoSec)}</b>, from {object.rpoFrom.label}. The most specific target
        applies: this object, then its Ceph namespace and pool, then the site where it is written, then the
        installation default.
      </p>
      <div className="space-y-3">
        <Select
          label="Set the target of"
          value={choice}
          onChange={(e) => setChoice(e.target.value as ScopeChoice)}
        >
          <option value="object">this object only</option>
          {object.kind === 'rbd-image' && pair && object.namespace && (
            <option value="namespace">
              namespace {object.pool}/{object.namespace} (both clusters)
            </option>
          )}
          {object.kind === 'rbd-image' && pair && (
            <option value="pool">pool {object.pool} (both clusters)</option>
          )}
          {object.source && object.source.id > 0 && (
            <option value="site">everything written on {object.source.name}</option>
          )}
          <option value="default">the installation default (admins)</option>
        </Select>
        <TextInput
          label="RPO (minutes)"
          type="number"
          min={0.17}
          step="any"
          value={minutes}
          onChange={(e) => setMinutes(e.target.value)}
          error={fe.seconds}
          hint="The longest data-loss window you accept: health turns to warning beyond it and to breach beyond twice it."
        />
        {error && !fe.seconds && <ErrorBox error={errorText(error)} />}
      </div>
      <div className="mt-4 flex justify-between gap-2">
        <Button
          onClick={remove}
          disabled={choice === 'default'}
          busy={clear.isPending}
          title="Remove the target of this scope: it inherits again"
        >
          Remove this target
        </Button>
        <div className="flex gap-2">
          <Button onClick={onClose}>Cancel</Button>
          <Button
            variant="primary"
            onClick={save}
            busy={set.isPending || setDefault.isPending}
            disabled={!Number.isFinite(seconds) || seconds <= 0}
          >
            Save
          </Button>
        </div>
      </div>
    </>
  );
}
