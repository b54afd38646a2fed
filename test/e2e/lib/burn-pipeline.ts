// Burns a class image for one node with the burner's own pieces — inventory → manifest, sparse
// verified write, manifest into the FAT partition — for when the `metis burn` CLI is not there.
// Usage: burn-pipeline IMAGE TARGET INVENTORY HOSTNAME MANIFEST_COPY. Prints the burn result as JSON.
import { readFile, writeFile } from 'node:fs/promises';
import { readBootFile, writeBootFile } from '../../../src/burner/fat/boot-file.js';
import { loadInventory } from '../../../src/burner/inventory/load.js';
import { nodeManifest } from '../../../src/burner/inventory/merge.js';
import { secretResolver } from '../../../src/burner/inventory/secrets.js';
import { burn } from '../../../src/burner/write/burn.js';
import { serializeManifest } from '../../../src/manifest/load.js';

const [image, target, inventory, hostname, copy] = process.argv.slice(2);
if (!image || !target || !inventory || !hostname || !copy) throw new Error('usage: burn-pipeline IMAGE TARGET INVENTORY HOSTNAME MANIFEST_COPY');
const inv = await loadInventory(inventory);
const data = Buffer.from(serializeManifest(await nodeManifest(inv, hostname, secretResolver(inventory))));
const bmap = `${image}.bmap`;
const result = await burn({ image, target, bmap: await readFile(bmap).then(() => bmap, () => undefined), verify: true });
await writeBootFile(target, 'metis/node.yaml', data);
const back = await readBootFile(target, 'metis/node.yaml');
if (!back || !back.equals(data)) throw new Error('manifest read back from the FAT partition differs');
await writeFile(copy, data, { mode: 0o600 });
console.log(JSON.stringify(result));
