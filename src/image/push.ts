import { MetisError } from '../lib/errors.js';
import { pushOci } from '../burner/source/oci.js';

export interface PushResult {
  digest: string;
}

/** Publishes a class image as an OCI artifact with the burner's registry client. */
export async function pushImage(file: string, ref: string, opts: { insecure: boolean }): Promise<PushResult> {
  // The client speaks plain http only to loopback registries; --insecure does not widen that.
  if (opts.insecure && !/^oci:\/\/(localhost|127\.|\[::1\])/.test(ref)) {
    throw new MetisError('E_PUSH', `cannot push ${ref}: plain http is only used for loopback registries`);
  }
  return { digest: (await pushOci(file, ref)).digest };
}
