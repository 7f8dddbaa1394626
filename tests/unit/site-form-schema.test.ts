import { describe, expect, it } from 'vitest';
import { cephConfigSchema, nodeConfigSchema } from '@/server/core/site-config';
import { siteFormDefaults, siteFormSchema } from '@/server/domain/site-form';

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----';
const issues = (v: object) =>
  Object.fromEntries(
    (siteFormSchema.safeParse(v).error?.issues ?? []).map((i) => [i.path.join('.'), i.message]),
  );

describe('the site registration form schema (the server rules, on the fields typed)', () => {
  it('turns a node typed with the defaults into settings the server takes', () => {
    const out = siteFormSchema.parse({
      ...siteFormDefaults('node'),
      name: 'n1',
      host: '10.0.0.1',
      privateKey: KEY,
    });
    expect(out).toMatchObject({ name: 'n1', kind: 'node', secret: { privateKey: KEY, keyring: '' } });
    expect(nodeConfigSchema.parse(out.config)).toMatchObject({
      host: '10.0.0.1',
      port: 22,
      user: 'root',
      hypervisor: 'libvirt',
      zpools: ['zones'],
    });
  });

  it('turns a local Ceph cluster into its settings, with no SSH key asked for', () => {
    const out = siteFormSchema.parse({ ...siteFormDefaults('ceph'), name: 'c1', siteName: 'site-a' });
    expect(out.secret).toEqual({ privateKey: '', keyring: '' });
    expect(cephConfigSchema.parse(out.config)).toMatchObject({
      access: 'local',
      siteName: 'site-a',
      cluster: 'ceph',
      clientId: 'admin',
      confPath: '/etc/ceph/ceph.conf',
      keyringPath: null,
    });
  });

  it("puts each finding on the field it was typed in, with the server's words", () => {
    expect(
      issues({
        ...siteFormDefaults('node'),
        name: 'bad name',
        host: 'bad host!',
        port: '70000',
        zpools: 'ok bad/pool',
        privateKey: 'not a key',
      }),
    ).toEqual({
      name: 'letters, digits and . _ - only, starting with a letter or digit',
      host: 'not a valid host name or IP address',
      port: '1–65535',
      zpools: 'not a valid zpool name',
      privateKey: 'paste the whole private key, including the BEGIN and END lines',
    });
    expect(issues({ ...siteFormDefaults('node'), name: 'n1', host: 'h1' })).toEqual({
      privateKey: 'required',
    });
    expect(
      issues({ ...siteFormDefaults('ceph'), name: 'c1', siteName: 'site a', keyring: 'nonsense' }),
    ).toMatchObject({
      siteName: 'letters, digits and . _ - only',
      keyring: expect.any(String),
    });
  });
});
