// Runs `metis image …` straight from src/image, for when dist/metis.js does not dispatch it (yet).
import { join } from 'node:path';
import { imageCommand } from '../../../src/image/cli.js';

const repo = process.env['METIS_REPO'] ?? process.cwd();
process.exitCode = await imageCommand(process.argv.slice(2), {
  out: (l) => console.log(l),
  err: (l) => console.error(l),
  distDir: join(repo, 'dist'),
});
