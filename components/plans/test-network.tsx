'use client';

import { TextInput } from '@/components/ui';

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

/** Removed interfaces, or an isolated libvirt network the operator names. */
export function TestNetworkField({
  value,
  onChange,
  error,
}: {
  value: TestNetworkChoice;
  onChange: (v: TestNetworkChoice) => void;
  error?: string;
}) {
  return (
    <fieldset className="space-y-1 text-sm">
      <legend className="mb-1 font-medium">Network of the test VMs</legend>
      <label className="flex items-center gap-2">
        <input
          type="radio"
          name="test-network"
          checked={value.kind === 'none'}
          onChange={() => onChange({ ...value, kind: 'none' })}
        />
        None: their network interfaces are removed
      </label>
      <label className="flex items-center gap-2">
        <input
          type="radio"
          name="test-network"
          checked={value.kind === 'isolated'}
          onChange={() => onChange({ ...value, kind: 'isolated' })}
        />
        An isolated libvirt network on the recovery nodes
      </label>
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
