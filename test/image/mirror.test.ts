import { describe, expect, it } from 'vitest';
import { mirrorFromDeb822 } from '../../src/image/mirror.js';

const sources = `Types: deb
# a comment line
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main
`;

describe('mirrorFromDeb822', () => {
  it.each([
    ['bookworm', 'http://mirror.invalid/debian'],
    ['bookworm-security', 'http://mirror.invalid/debian-security'],
    ['trixie', undefined],
  ])('suite %s → %s', (suite, want) => {
    expect(mirrorFromDeb822(sources, suite)).toBe(want);
  });

  it('ignores deb-src stanzas', () => {
    expect(mirrorFromDeb822('Types: deb-src\nURIs: http://src.invalid/\nSuites: bookworm\n', 'bookworm')).toBeUndefined();
  });
});
