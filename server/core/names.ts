import { AppError } from './errors';

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
    throw AppError.invalid(
      label,
      `${JSON.stringify(value)} is not a valid name (allowed: ${NAME_PATTERNS[kind].source})`,
    );
  }
  return value;
}
