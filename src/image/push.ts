import { MetisError } from '../lib/errors.js';

export interface PushResult {
  digest: string;
}

/** Publishes a class image as an OCI artifact with the burner's registry client. */
export async function pushImage(file: string, ref: string, opts: { insecure: boolean }): Promise<PushResult> {
  void file;
  void opts;
  throw new MetisError('E_PUSH', `cannot push ${ref}: the OCI registry client is not available in this build`);
}
