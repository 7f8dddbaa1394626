import { AppError } from '../domain/errors';

/**
 * POSIX shell quoting for the few places where a remote shell is unavoidable (an SSH exec
 * request is a single string). Every argument is wrapped in single quotes; embedded single
 * quotes become '\''. NUL bytes cannot be passed through a shell at all and are refused.
 */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('argument contains a NUL byte');
  if (arg !== '' && /^[A-Za-z0-9_\-./=:@,+%]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** A pipeline of argument arrays, each quoted, joined with `|`. */
export function shellPipeline(commands: readonly (readonly string[])[]): string {
  return commands.map(shellJoin).join(' | ');
}

/** Strict patterns for names that end up in commands. */
export const NAME_PATTERNS = {
  /** Ceph pool, namespace or image name. */
  ceph: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
  /** ZFS dataset path component. */
  zfsComponent: /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/,
  /** A full ZFS dataset path (pool/child/...). */
  zfsDataset: /^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$/,
  /** Snapshot name (after @). */
  zfsSnapshot: /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/,
  /** VM (domain) name. */
  vm: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
  /** Host name or IP address. */
  host: /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\d{1,3}(?:\.\d{1,3}){3}$|^\[?[0-9a-fA-F:]+\]?$/,
  /** Ceph client id (without `client.`). */
  cephClient: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
} as const;

export function assertName(kind: keyof typeof NAME_PATTERNS, value: string, label: string = kind): string {
  if (!NAME_PATTERNS[kind].test(value)) {
    throw AppError.invalid(label, `${JSON.stringify(value)} is not a valid name (allowed: ${NAME_PATTERNS[kind].source})`);
  }
  return value;
}
