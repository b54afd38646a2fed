import { describe, expect, it } from 'vitest';
import { imageCommand } from '../../src/image/cli.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), distDir: '/nonexistent/dist' } };
}

describe('imageCommand', () => {
  it.each([
    // Usage errors exit 2, like every other metis command (issue 9); --help prints to stdout.
    [['frobnicate'], 2, /unknown image command: frobnicate/],
    [['build'], 2, /image build takes one CLASS/],
    [['build', 'a', 'b'], 2, /image build takes one CLASS/],
    [['build', 'no-such-class', '--inventory', '/nonexistent'], 1, /class no-such-class: cannot read \/nonexistent\/classes\/no-such-class\.yaml/],
    [['push', 'x.img'], 2, /image push takes FILE and oci:\/\/REGISTRY\/REPO:TAG/],
    [['build', 'x', '--bogus'], 2, /--bogus/],
  ])('%j → exit %i, message %s', async (argv, code, msg) => {
    const t = io();
    expect(await imageCommand(argv, t.io)).toBe(code);
    expect(t.err.join('\n')).toMatch(msg);
  });

  it('--help prints the usage on stdout and exits 0', async () => {
    const t = io();
    expect(await imageCommand(['--help'], t.io)).toBe(0);
    expect(t.out.join('\n')).toMatch(/metis image build CLASS/);
  });
});
