import { describe, expect, it } from 'vitest';
import { imageCommand } from '../../src/image/cli.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), distDir: '/nonexistent/dist' } };
}

describe('imageCommand', () => {
  it.each([
    [['frobnicate'], 1, /unknown image command: frobnicate/],
    [['--help'], 0, /metis image build CLASS/],
    [['build'], 1, /image build takes one CLASS/],
    [['build', 'a', 'b'], 1, /image build takes one CLASS/],
    [['build', 'no-such-class', '--inventory', '/nonexistent'], 1, /class no-such-class: cannot read \/nonexistent\/classes\/no-such-class\.yaml/],
    [['push', 'x.img'], 1, /image push takes FILE and oci:\/\/REGISTRY\/REPO:TAG/],
    [['build', 'x', '--bogus'], 1, /Unknown option '--bogus'/],
  ])('%j → exit %i, message %s', async (argv, code, msg) => {
    const t = io();
    expect(await imageCommand(argv, t.io)).toBe(code);
    expect(t.err.join('\n')).toMatch(msg);
  });
});
