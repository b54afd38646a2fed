import { describe, expect, it } from 'vitest';
import { requireBuildHost } from '../../src/image/host.js';

describe('requireBuildHost', () => {
  const isRoot = process.getuid?.() === 0;
  console.warn(isRoot ? 'skip: "refuses without root" needs a non-root user; running as root' : 'skip: tool checks need root');
  it.runIf(isRoot)('names every missing host tool', async () => {
    await expect(requireBuildHost(['sh', 'metis-no-such-tool-a', 'metis-no-such-tool-b'])).rejects.toThrow(/missing host tools: metis-no-such-tool-a, metis-no-such-tool-b/);
  });
  it.runIf(!isRoot)('refuses without root, saying why', async () => {
    await expect(requireBuildHost(['sh'])).rejects.toThrow(/needs root/);
  });
  it.runIf(isRoot)('passes when the tools are there', async () => {
    await expect(requireBuildHost(['sh'])).resolves.toBeUndefined();
  });
});
