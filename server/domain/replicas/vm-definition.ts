import { stripDomainSecrets } from '../../adapters/node/domain-xml';
import type { VmDefinition } from '../../adapters/node/types';
import type { StoredVmDefinition } from '../../db/schema';

/** What encrypts and decrypts secrets bound to their purpose (the installation's SecretKeys). */
export interface Sealer {
  encrypt(plain: string, aad: string): string;
  decrypt(stored: string, aad: string): string;
}

/** Associated data of a sealed VM definition: it opens only as one. */
export const VM_DEFINITION_AAD = 'replica:vm-definition';
const AAD = VM_DEFINITION_AAD;

/*
 * A replica stores its VM's definition at each sync, dumped with its secrets (console passwords,
 * `virsh dumpxml --security-info`) so that the VM defined on the replica node after a failover
 * has them. The stored `text` has them removed and is all that the API returns; the whole
 * definition is kept only encrypted (`sealed`) and opened only to define the VM.
 */

/** The one place replica code encrypts: the whole definition of a VM. */
function seal(box: Sealer, text: string): string {
  return box.encrypt(text, AAD);
}

/** The one place replica code decrypts (see seal). */
function unseal(box: Sealer, sealed: string): string {
  return box.decrypt(sealed, AAD);
}

/** What is stored for a definition just dumped from the master. */
export function storedDefinition(
  box: Sealer,
  def: VmDefinition,
  facts: Pick<StoredVmDefinition, 'state' | 'disks'>,
): StoredVmDefinition {
  // A format whose secrets Tandem cannot find is stored sealed only.
  const { text, secrets } =
    def.format === 'libvirt-xml' ? stripDomainSecrets(def.text) : { text: '', secrets: 1 };
  return {
    format: def.format,
    name: def.name,
    text,
    sealed: secrets > 0 ? seal(box, def.text) : null,
    ...facts,
  };
}

/** The definition as the API may show it: no secrets, not even encrypted. */
export function publicDefinition(stored: StoredVmDefinition): Omit<StoredVmDefinition, 'sealed'> {
  const { sealed: _sealed, ...rest } = stored;
  return { ...rest, text: rest.format === 'libvirt-xml' ? stripDomainSecrets(rest.text).text : rest.text };
}

/** The whole definition, secrets included, to define the VM on a node. */
export function definitionToDefine(box: Sealer, stored: StoredVmDefinition): VmDefinition {
  return {
    format: stored.format,
    name: stored.name,
    text: stored.sealed ? unseal(box, stored.sealed) : stored.text,
  };
}
