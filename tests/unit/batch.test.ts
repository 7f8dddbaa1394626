import { describe, expect, it } from 'vitest';
import { runBatch } from '@/server/adapters/batch';
import { LocalRunner } from '@/server/adapters/local-runner';
import { shellJoin } from '@/server/adapters/quote';
import type { CommandRunner, CommandSpec } from '@/server/adapters/runner';

/** Runs each command as an SSH server would: one string through `sh -c`, quoted by shellJoin. */
const local = new LocalRunner();
const viaShell: CommandRunner = {
  target: 'shell',
  run: (spec: CommandSpec) => local.run({ ...spec, argv: ['sh', '-c', shellJoin(spec.argv)] }),
  close: async () => {},
};

describe('runBatch', () => {
  for (const [label, runner] of [
    ['argv', local],
    ['through a remote shell', viaShell],
  ] as const) {
    it(`returns each command's exact output and exit code (${label})`, async () => {
      const r = await runBatch(runner, [
        ['printf', '%s', "a 'quoted' $HOME `x` ; b"],
        ['sh', '-c', 'echo out; echo err >&2; exit 3', 'x'],
        ['printf', 'two\n\nlines\n\n'],
        ['cat'],
      ]);
      expect(r.map((x) => x.exitCode)).toEqual([0, 3, 0, 0]);
      expect(r.map((x) => x.stdout)).toEqual(["a 'quoted' $HOME `x` ; b", 'out\n', 'two\n\nlines\n\n', '']);
      expect(r.map((x) => x.stderr)).toEqual(['', 'err\n', '', '']);
      expect(r[1]!.argv).toEqual(['sh', '-c', 'echo out; echo err >&2; exit 3', 'x']);
    });
  }

  it('stops at the first failure when asked', async () => {
    const r = await runBatch(viaShell, [['true'], ['false'], ['touch', '/nonexistent-dir/x']], {
      stopOnError: true,
    });
    expect(r.map((x) => x.exitCode)).toEqual([0, 1]);
  });

  it('cannot be misled by output that imitates its boundaries', async () => {
    const r = await runBatch(local, [
      ['printf', '\ntandem-batch-00 0\n'],
      ['echo', 'b'],
    ]);
    expect(r.map((x) => x.stdout)).toEqual(['\ntandem-batch-00 0\n', 'b\n']);
  });
});
