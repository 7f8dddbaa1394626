import crypto from 'node:crypto';
import { AppError } from '../../core/errors';
import type { CommandRunner } from '../runner';
import type { HostPublicKey } from './types';

/*
 * Tandem's own known_hosts file on a node that pulls replicas. A pull's ssh (see transfer.ts)
 * checks the source node against this file alone — never the node's ~/.ssh/known_hosts or
 * /etc/ssh/ssh_known_hosts — under the name `tandem-site-<source site id>` (HostKeyAlias), and
 * the file holds only keys whose fingerprint is the one pinned for that site in Tandem: the key
 * the source presented to Tandem's own connection, which refuses any other (ssh-runner.ts).
 *
 * The file belongs to the SSH user Tandem logs in as (root in the lab: /root/.ssh), mode 0600,
 * one line per source: `tandem-site-<id> <key type> <base64>`. It is written by a constant
 * script that replaces it by rename (a temporary file in the same directory, then mv), only
 * when the entry differs, under flock(1) where the node has it.
 */

/** Where the pull's ssh reads the file (ssh expands `~` itself). */
export const TANDEM_KNOWN_HOSTS = '~/.ssh/tandem_known_hosts';

const ALIAS = /^tandem-site-[1-9][0-9]{0,9}$/;
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The name under which a source site's key is kept in the file (HostKeyAlias of its pulls). */
export function hostKeyAliasFor(siteId: number): string {
  return assertHostKeyAlias(`tandem-site-${siteId}`);
}

export function assertHostKeyAlias(alias: string, field = 'hostKeyAlias'): string {
  if (typeof alias !== 'string' || !ALIAS.test(alias))
    throw AppError.invalid(
      field,
      `${JSON.stringify(alias)} is not a Tandem host key alias (tandem-site-<id>)`,
    );
  return alias;
}

/** A host key from its SSH wire form (what the server sends in the key exchange). */
export function parseHostKeyBlob(blob: Buffer): HostPublicKey {
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const type =
    len > 0 && len <= 64 && 4 + len < blob.length ? blob.subarray(4, 4 + len).toString('latin1') : '';
  if (!KEY_TYPES.has(type)) throw AppError.invalid('hostKey', 'not an SSH public host key of a known type');
  return { type, base64: blob.toString('base64') };
}

/** A host key from an OpenSSH public key line (`ssh-ed25519 AAAA… comment`). */
export function parseHostKeyLine(line: string): HostPublicKey {
  const [type = '', b64 = ''] = line.trim().split(/\s+/);
  if (!BASE64.test(b64))
    throw AppError.invalid('hostKey', 'expected an OpenSSH public key line such as "ssh-ed25519 AAAA…"');
  const key = parseHostKeyBlob(Buffer.from(b64, 'base64'));
  if (key.type !== type || key.base64 !== b64)
    throw AppError.invalid('hostKey', `the key is a ${key.type} key, not ${type}`);
  return key;
}

/** `SHA256:…`, as ssh-keygen -l and the pinned fingerprints of sites write it. */
export function hostKeyFingerprint(key: HostPublicKey): string {
  return (
    'SHA256:' +
    crypto.createHash('sha256').update(Buffer.from(key.base64, 'base64')).digest('base64').replace(/=+$/, '')
  );
}

/** The file's line for one source: `tandem-site-<id> <type> <base64>` (both parts checked). */
export function knownHostsLine(alias: string, key: HostPublicKey): string {
  assertHostKeyAlias(alias);
  const checked = parseHostKeyLine(`${key.type} ${key.base64}`);
  if (checked.type !== key.type || checked.base64 !== key.base64)
    throw AppError.invalid('hostKey', 'not a single OpenSSH public key');
  return `${alias} ${checked.type} ${checked.base64}`;
}

/**
 * Run as `sh -c TRUST_SCRIPT tandem-known-hosts <alias> <line>`; the arguments are never part
 * of the script. Prints `written` or `unchanged`.
 */
export const TRUST_SCRIPT = [
  'set -eu',
  'umask 077',
  'a=$1; line=$2',
  'd="$HOME/.ssh"; f="$d/tandem_known_hosts"',
  'mkdir -p "$d"',
  'if command -v flock >/dev/null 2>&1; then exec 9<"$d"; flock -w 30 9; fi',
  'if [ -f "$f" ] && [ "$(awk -v a="$a" \'$1 == a\' "$f")" = "$line" ]; then chmod 600 "$f"; echo unchanged; exit 0; fi',
  't=$(mktemp "$f.XXXXXX")',
  'trap \'rm -f "$t"\' EXIT',
  '{ if [ -f "$f" ]; then awk -v a="$a" \'$1 != a\' "$f"; fi; printf \'%s\\n\' "$line"; } >"$t"',
  'chmod 600 "$t"',
  'mv -f "$t" "$f"',
  'trap - EXIT',
  'echo written',
].join('\n');

export function trustHostKeyArgv(alias: string, key: HostPublicKey): string[] {
  return ['sh', '-c', TRUST_SCRIPT, 'tandem-known-hosts', alias, knownHostsLine(alias, key)];
}

/**
 * Makes Tandem's known_hosts file on the runner's node hold exactly `key` for `alias` (other
 * sources' entries kept). Returns whether the file was written.
 */
export async function trustHostKey(
  runner: CommandRunner,
  alias: string,
  key: HostPublicKey,
): Promise<boolean> {
  const argv = trustHostKeyArgv(alias, key);
  const r = await runner.run({ argv, timeoutMs: 60_000 });
  return r.stdout.trim().split('\n').pop() === 'written';
}
