import { readFile } from 'node:fs/promises';
import { MetisError } from '../lib/errors.js';

export const DEBIAN_SOURCES = '/etc/apt/sources.list.d/debian.sources';

/**
 * The Debian mirror this host already uses, read from its deb822 sources file at run time, so no
 * mirror host is ever baked into the repo or the image build. The first stanza whose Suites name
 * `suite` wins.
 */
export function mirrorFromDeb822(text: string, suite: string): string | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) fields.set(m[1]!.toLowerCase(), m[2]!.trim());
    }
    const suites = (fields.get('suites') ?? '').split(/\s+/);
    const types = (fields.get('types') ?? 'deb').split(/\s+/);
    const uri = (fields.get('uris') ?? '').split(/\s+/)[0];
    if (uri && types.includes('deb') && suites.includes(suite)) return uri;
  }
  return undefined;
}

export async function hostMirror(suite: string, file = DEBIAN_SOURCES): Promise<string> {
  const text = await readFile(file, 'utf8').catch((cause: unknown) => {
    throw new MetisError('E_MIRROR', `cannot read ${file} to find the Debian mirror (pass --mirror URL)`, { file, cause });
  });
  const uri = mirrorFromDeb822(text, suite);
  if (!uri) throw new MetisError('E_MIRROR', `${file} has no "deb" source for suite ${suite} (pass --mirror URL)`, { file });
  return uri;
}
