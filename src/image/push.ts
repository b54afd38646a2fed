import { access } from 'node:fs/promises';
import { MetisError } from '../lib/errors.js';
import { pushOci } from '../core/oci/client.js';

export interface PushResult {
  digest: string;
  layerDigest: string;
}

/** Publishes a class image as a Metis OCI artifact with the burner's registry client (the one `metis burn` pulls with). */
export async function pushImage(file: string, ref: string): Promise<PushResult> {
  if (!ref.startsWith('oci://')) throw new MetisError('E_USAGE', `push target must be oci://REGISTRY/REPO:TAG (got ${ref})`);
  await access(file).catch((cause: unknown) => {
    throw new MetisError('E_IMAGE_FILE', `cannot read ${file}`, { file, cause });
  });
  return pushOci(file, ref);
}
