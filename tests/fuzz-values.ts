import fc from 'fast-check';

/** Hostile values for the fuzz tests (the tRPC procedures over HTTP, the REST API). */

export const SHELL = [
  '$(id)',
  '`id`',
  '; rm -rf /',
  '| cat /etc/passwd',
  '&& reboot',
  'a\nb',
  '${IFS}',
  '../../../etc/passwd',
  '\'"\\',
  '%00',
  'a\0b',
  '*',
  '~root',
  '$HOME',
  '<script>x</script>',
  '=cmd|',
  '\r\n\r\n',
];
export const DASHES = ['-', '--', '-rf', '--force', '-o ProxyCommand=id', '--format=json', '-h', '--', '-1'];
export const UNICODE = [
  'é',
  '😀',
  '\u202e',
  '\ufeff',
  '\ud800',
  'ｆｕｌｌ',
  'Ω'.repeat(200),
  'İ',
  '\u0085',
  '𝕏',
];
export const NUMBERS = [
  NaN,
  Infinity,
  -Infinity,
  -0,
  -1,
  0,
  0.5,
  -(2 ** 31),
  2 ** 31,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  1e308,
  -1e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
];

/** Names the demo sites know, so that generated calls also reach the work behind the checks. */
export const DEMO_WORDS = [
  'rbd',
  'vm-web01-root',
  'vm-db01-data',
  'vm-app01-root',
  'backup-staging',
  'archive-2025',
  'demo-site-a',
  'demo-site-b',
  'demo-node1',
  'demo-node2',
  'demo-node3',
  'web01',
  'db01',
  'mail01',
  'app01',
  'zones',
  'data',
  'admin',
  'client.admin',
  '1h',
  '30m',
  '1d',
  '14:00:00',
  '2026-01-01T00:00:00Z',
  '',
];

/** An object with own `__proto__` and `constructor` keys, as JSON.parse makes them. */
export const protoObject = () =>
  JSON.parse(
    '{"__proto__":{"isAdmin":true,"polluted":1},"constructor":{"prototype":{"polluted":1}},"toString":"x"}',
  ) as unknown;

function deep(n: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** Hostile strings; 1 MB ones only in POST bodies (a GET's URL is bounded by the HTTP server). */
export function hostileString(get: boolean): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...SHELL, ...DASHES, ...UNICODE),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constant('x'.repeat(get ? 2_000 : 1_000_000)),
    fc.constant('é'.repeat(get ? 500 : 300_000)),
    fc.constant('-'.repeat(get ? 1_000 : 500_000)),
  );
}

export function hostileAny(get: boolean): fc.Arbitrary<unknown> {
  return fc.oneof(
    hostileString(get),
    fc.constantFrom(...NUMBERS),
    fc.bigInt(),
    fc.constantFrom(null, undefined, true, new Date(NaN), new Date(8.64e15), [], {}),
    fc.constant(null).map(protoObject),
    fc.constant(null).map(() => deep(get ? 50 : 2_000)),
    fc.constant(null).map(() => Array.from({ length: get ? 50 : 20_000 }, (_, i) => i)),
    fc.anything({
      maxDepth: 3,
      maxKeys: 5,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withSparseArray: true,
    }),
  );
}
