'use client';

import { TextInput } from '@/components/ui';
import type { FieldProps } from '@/components/wizard';

export interface TestNetworkChoice {
  kind: 'none' | 'isolated';
  network: string;
}

/** The network a test failover's VMs get, as the API takes it (null while an isolated network has no name). */
export function testNetwork(
  c: TestNetworkChoice,
): { kind: 'none' } | { kind: 'isolated'; network: string } | null {
  if (c.kind === 'none') return { kind: 'none' };
  return c.network.trim() ? { kind: 'isolated', network: c.network.trim() } : null;
}

const KINDS: [TestNetworkChoice['kind'], string][] = [
  ['none', 'None: their network interfaces are removed'],
  ['isolated', 'An isolated libvirt network on the recovery nodes'],
];

/** Removed interfaces, or an isolated libvirt network the operator names. */
export function TestNetworkField({ value, onChange, error }: FieldProps<TestNetworkChoice>) {
  return (
    <fieldset className="space-y-1 text-sm">
      <legend className="mb-1 font-medium">Network of the test VMs</legend>
      {KINDS.map(([kind, text]) => (
        <label key={kind} className="flex items-center gap-2">
          <input
            type="radio"
            name="test-network"
            checked={value.kind === kind}
            onChange={() => onChange({ ...value, kind })}
          />
          {text}
        </label>
      ))}
      {value.kind === 'isolated' && (
        <TextInput
          label="Isolated network name"
          value={value.network}
          onChange={(e) => onChange({ ...value, network: e.target.value })}
          autoComplete="off"
          error={error}
        />
      )}
    </fieldset>
  );
}
