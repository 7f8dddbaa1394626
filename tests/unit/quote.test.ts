import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellJoin, shellPipeline, shellQuote } from '@/server/adapters/quote';
import { assertName } from '@/server/core/names';

const HOSTILE = [
  '',
  ' ',
  "it's",
  "'; rm -rf / #",
  '$(touch /tmp/pwned)',
  '`id`',
  '"double" and \\backslash\\',
  'a\nb\nc',
  'tab\there',
  '*',
  '~root',
  '--help',
  '-rf',
  '!event',
  '${HOME}',
  'semi;colon|pipe&amp>redirect<in',
  'ünïcødé ✓',
  "''''",
  'a\'b"c$d`e\\f',
];

describe('shell quoting', () => {
  it('passes every hostile string through a real shell unchanged', () => {
    for (const s of HOSTILE) {
      const out = execFileSync('sh', ['-c', `printf '%s' ${shellQuote(s)}`], { encoding: 'utf8' });
      expect(out).toBe(s);
    }
  });

  it('keeps argument boundaries when joining', () => {
    const argv = ['printf', '[%s]', ...HOSTILE];
    const out = execFileSync('sh', ['-c', shellJoin(argv)], { encoding: 'utf8' });
    expect(out).toBe(HOSTILE.map((s) => `[${s}]`).join(''));
  });

  it('quotes each command of a pipeline separately', () => {
    const out = execFileSync(
      'sh',
      [
        '-c',
        shellPipeline([
          ['printf', '%s', 'x|y; echo injected'],
          ['tr', 'x', 'z'],
        ]),
      ],
      { encoding: 'utf8' },
    );
    expect(out).toBe('z|y; echo injected');
  });

  it('refuses NUL bytes', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });

  it('validates names before they reach a command', () => {
    expect(assertName('zfsDataset', 'zones/web01-disk0')).toBe('zones/web01-disk0');
    for (const bad of ['zones/../etc', 'zones/a b', '-o', 'zones/$(id)', 'zones//x', '/abs']) {
      expect(() => assertName('zfsDataset', bad)).toThrow(/not a valid name/);
    }
    expect(() => assertName('ceph', 'rbd;ls')).toThrow();
    expect(assertName('ceph', 'rbd')).toBe('rbd');
    expect(() => assertName('vm', '--paused')).toThrow();
  });
});
