import { describe, expect, it } from 'vitest';
import {
  replicaCreateFormDefaults,
  replicaCreateFormSchema,
  replicaSettingsSchema,
} from '@/server/domain/replicas/rules';

const filled = { ...replicaCreateFormDefaults(), name: 'dr', targetSiteId: '2', rootZpool: 'zones' };
const issues = (v: object) =>
  Object.fromEntries(
    (replicaCreateFormSchema.safeParse(v).error?.issues ?? []).map((i) => [i.path.join('.'), i.message]),
  );

describe('the replica create form schema (shared by the browser and the server)', () => {
  it('starts from the server defaults', () => {
    const out = replicaCreateFormSchema.parse(filled);
    const d = replicaSettingsSchema.parse({});
    expect(out).toMatchObject({
      sleepTimeSec: d.sleepTimeSec,
      enabled: d.enabled,
      bandwidthLimit: d.bandwidthLimit,
      reserveResources: d.reserveResources,
      keepSnapshots: d.keepSnapshots,
      targetSiteId: 2,
    });
  });

  it('turns what is typed into the server fields: a rate like 8M, numbers typed as text', () => {
    expect(
      replicaCreateFormSchema.parse({ ...filled, bandwidthLimit: '8M', sleepTimeSec: '300' }),
    ).toMatchObject({ bandwidthLimit: 8 * 1024 * 1024, sleepTimeSec: 300 });
  });

  it('finds each mistake on its field with the server rule words; empty is required, not zero', () => {
    expect(
      issues({
        ...filled,
        name: 'bad name',
        targetSiteId: '',
        sleepTimeSec: '',
        keepSnapshots: '0',
        bandwidthLimit: '8 lightyears',
      }),
    ).toEqual({
      name: 'letters, digits and . _ - only, starting with a letter or digit',
      targetSiteId: 'choose a target node',
      sleepTimeSec: 'required',
      keepSnapshots: 'keep at least 1 recovery point',
      bandwidthLimit: expect.stringMatching(/is not a rate/),
    });
    expect(issues({ ...filled, sleepTimeSec: '90000' })).toEqual({ sleepTimeSec: '0–86400 seconds' });
  });
});
