import { runMetis } from './commands/main.js';
import { processIo } from '../inventory/io.js';

// The one place that exits. Ctrl-C aborts the burn before the partition table goes down.
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
