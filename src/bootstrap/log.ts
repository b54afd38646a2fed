import pino, { type Logger, type DestinationStream } from 'pino';
import type { Redactor } from '../lib/redact.js';

/**
 * pino JSON lines (journald keeps them). Two layers against secrets: pino `redact` for the
 * manifest's secret field paths, and every logged object and message passes the value Redactor.
 */
export function createLogger(opts: { redact: Redactor; secretPaths: string[]; dest: DestinationStream; level?: string }): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { name: 'metis-bootstrap' },
      redact: { paths: opts.secretPaths.map(pinoPath).flatMap((p) => [p, `*.${p}`]), censor: '[redacted]' },
      hooks: {
        logMethod(args, method) {
          method.apply(this, opts.redact.deep(args) as Parameters<typeof method>);
        },
      },
    },
    opts.dest,
  );
}

/** A secret field path (k3s.token, ssh.hostKeys.ed25519.private) as a pino redact path. */
export function pinoPath(p: string): string {
  return p
    .split('.')
    .map((k, i) => (/^[A-Za-z_$][\w$]*$/.test(k) ? (i === 0 ? k : `.${k}`) : `[${JSON.stringify(k)}]`))
    .join('');
}
