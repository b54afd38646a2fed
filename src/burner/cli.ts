import { runMetis } from './commands/main.js';
import { processIo } from '../inventory/io.js';

// The one place that exits. Ctrl-C aborts the burn before the partition table goes down.
// In the bundle, `./commands/main.js` (everything but this file) is one string compiled through a V8
// code cache (scripts/build.mjs, src/burner/code-cache.ts); `../inventory/io.js` is small and stays here.
const abort = new AbortController();
process.once('SIGINT', () => abort.abort());
process.once('SIGTERM', () => abort.abort());
runMetis(process.argv.slice(2), processIo(abort.signal)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`metis: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
