import { SourceError } from '../source-errors.js';

export interface OciRef {
  host: string;
  repo: string;
  /** A tag or a sha256:… digest. */
  reference: string;
  /** http only for loopback registries (tests, a local mirror); https everywhere else. */
  base: string;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;

/** oci://HOST[:PORT]/REPO[:TAG|@sha256:HEX]; the tag defaults to latest. */
export function parseOciRef(text: string): OciRef {
  const m = /^oci:\/\/([^/\s]+)\/([a-z0-9]+(?:[._\/-][a-z0-9]+)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(sha256:[0-9a-f]{64}))?$/.exec(text);
  if (!m) throw new SourceError('E_OCI_REF', `${text}: not an OCI reference (oci://HOST[:PORT]/REPO:TAG or oci://HOST/REPO@sha256:HEX)`);
  const host = m[1]!;
  const hostname = host.replace(/:\d+$/, '');
  return { host, repo: m[2]!, reference: m[4] ?? m[3] ?? 'latest', base: `${LOOPBACK.test(hostname) ? 'http' : 'https'}://${host}` };
}
