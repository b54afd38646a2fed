// node:zlib, loaded on first use (≈ 1 ms to set up): only gzip images and a raw image sent to a
// flashing host need it, so a local burn of a raw, .xz or .zst image starts without it.
// `require`, not `import()`: the CLI's commands run compiled through vm.Script, where a dynamic
// import has no loader (src/bootstrap/https.ts).
import { createRequire } from 'node:module';

type Zlib = typeof import('node:zlib');

const load = createRequire(import.meta.url);

export function zlib(): Zlib {
  return load('node:zlib') as Zlib;
}
