// Burns a class image for one node with the burner's own write pipeline and FAT injection, for
// when the `metis burn` CLI is not there: IMAGE TARGET MANIFEST. Prints the burn result as JSON.
import { readFile } from 'node:fs/promises';
import { readBootFile, writeBootFile } from '../../../src/burner/fat/boot-file.js';
import { burn } from '../../../src/burner/write/burn.js';

const [image, target, manifest] = process.argv.slice(2);
if (!image || !target || !manifest) throw new Error('usage: burn-pipeline IMAGE TARGET MANIFEST');
const bmap = `${image}.bmap`;
const result = await burn({ image, target, bmap: await readFile(bmap).then(() => bmap, () => undefined), verify: true });
const data = await readFile(manifest);
await writeBootFile(target, 'metis/node.yaml', data);
const back = await readBootFile(target, 'metis/node.yaml');
if (!back || !back.equals(data)) throw new Error('manifest read back from the FAT partition differs');
console.log(JSON.stringify(result));
