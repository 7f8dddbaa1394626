import { z } from 'zod';
import {
  cephConfigSchema,
  keyringSchema,
  nodeConfigSchema,
  privateKeySchema,
  siteNameSchema,
} from '../core/site-config';

/**
 * The site registration form as an operator types it (every field text), turned into what
 * `sites.create` takes: the kind's settings and the secret. Each field is checked by the schema the
 * server applies to it (nodeConfigSchema, cephConfigSchema, the key and keyring schemas), and a
 * finding lands on the field the operator typed it in, before the round trip.
 */
export const siteFormSchema = z
  .object({
    kind: z.enum(['node', 'ceph']),
    name: z.string(),
    host: z.string(),
    port: z.string(),
    user: z.string(),
    hypervisor: z.enum(['libvirt', 'vmadm']),
    zpools: z.string(),
    access: z.enum(['local', 'ssh']),
    siteName: z.string(),
    cluster: z.string(),
    confPath: z.string(),
    clientId: z.string(),
    keyringPath: z.string(),
    privateKey: z.string(),
    keyring: z.string(),
  })
  .transform((v, ctx) => {
    // Every field is checked here, in one pass, so that every finding shows at once.
    const name = siteNameSchema.safeParse(v.name);
    if (!name.success)
      for (const i of name.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: ['name'] });
    const ssh = v.kind === 'node' || v.access === 'ssh';
    const at = ssh ? { host: v.host, port: v.port.trim() === '' ? undefined : v.port, user: v.user } : {};
    const config =
      v.kind === 'node'
        ? { ...at, hypervisor: v.hypervisor, zpools: v.zpools.split(/[\s,]+/).filter(Boolean) }
        : {
            access: v.access,
            siteName: v.siteName,
            cluster: v.cluster,
            clientId: v.clientId,
            confPath: v.confPath || null,
            keyringPath: v.keyringPath || null,
            ...at,
          };
    const checked = (v.kind === 'node' ? nodeConfigSchema : cephConfigSchema).safeParse(config);
    // A setting's finding goes to its field (`zpools.0` to the zpools field).
    if (!checked.success)
      for (const i of checked.error.issues)
        ctx.addIssue({ code: 'custom', message: i.message, path: [String(i.path[0] ?? 'name')] });
    const secretOf = (field: 'privateKey' | 'keyring', schema: z.ZodType<string, string>) => {
      const text = v[field];
      if (!text.trim()) return '';
      const r = schema.safeParse(text);
      if (!r.success)
        for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: [field] });
      return text;
    };
    const privateKey = ssh ? secretOf('privateKey', privateKeySchema) : '';
    if (ssh && !privateKey) ctx.addIssue({ code: 'custom', message: 'required', path: ['privateKey'] });
    const keyring = v.kind === 'ceph' && v.access === 'local' ? secretOf('keyring', keyringSchema) : '';
    // What is sent: the settings as typed (the server parses them again), the secret once.
    return { name: name.data ?? v.name, kind: v.kind, config, secret: { privateKey, keyring } };
  });

/**
 * The form's first values: the settings schemas' own defaults (port, user, hypervisor, cluster,
 * client), as text, and the usual zpool and ceph.conf as suggestions.
 */
export function siteFormDefaults(kind: 'node' | 'ceph'): z.input<typeof siteFormSchema> {
  const node = nodeConfigSchema.parse({ host: 'h' });
  const ceph = cephConfigSchema.parse({ access: 'local', siteName: 's', confPath: '/' });
  return {
    kind,
    name: '',
    host: '',
    port: String(node.port),
    user: node.user,
    hypervisor: node.hypervisor,
    zpools: 'zones',
    access: 'local',
    siteName: '',
    cluster: ceph.cluster,
    confPath: '/etc/ceph/ceph.conf',
    clientId: ceph.clientId,
    keyringPath: '',
    privateKey: '',
    keyring: '',
  };
}
