// node:https (with tls and http) for the node report and the join preflight, loaded on first use:
// Debian's node 18 compiles each of its own modules from source when first required, and the boot's
// early phase needs none of these (docs/bootstrap.md, "Boot time").
// Not `import()`: in the bundle the engine runs compiled through vm.Script (its code cache), where a
// dynamic import has no loader ("A dynamic import callback was not specified"); require has.
import { createRequire } from 'node:module';

type Https = typeof import('node:https');

const load = createRequire(import.meta.url);
let https: Https | undefined;

export function httpsModule(): Https {
  https ??= load('node:https') as Https;
  return https;
}
