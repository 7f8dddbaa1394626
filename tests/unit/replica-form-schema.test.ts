import { describe, expect, it } from 'vitest';
import {
  replicaCreateFormDefaults,
  replicaCreateFormSchema,
  replicaSettingsFormSchema,
  replicaSettingsFormValues,
  replicaSettingsSchema,
  replicaUpdateSchema,
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

describe("a replica's settings form schema", () => {
  const replica = { sleepTimeSec: 300, bandwidthLimit: 8 * 1024 * 1024, keepSnapshots: 5 };

  it("starts from the replica's settings and gives back the update's fields unchanged", () => {
    const out = replicaSettingsFormSchema.parse(replicaSettingsFormValues(replica));
    expect(out).toEqual(replica);
    expect(replicaUpdateSchema.parse(out)).toEqual(replica);
    expect(
      replicaSettingsFormSchema.parse(replicaSettingsFormValues({ ...replica, bandwidthLimit: null })),
    ).toMatchObject({ bandwidthLimit: null });
  });

  it('finds each mistake on its field with the server rule words', () => {
    const r = replicaSettingsFormSchema.safeParse({
      sleepTimeSec: '',
      bandwidthLimit: '8 lightyears',
      keepSnapshots: '0',
    });
    expect(Object.fromEntries((r.error?.issues ?? []).map((i) => [i.path.join('.'), i.message]))).toEqual({
      sleepTimeSec: 'required',
      bandwidthLimit: expect.stringMatching(/is not a rate/),
      keepSnapshots: 'keep at least 1 recovery point',
    });
  });
});
