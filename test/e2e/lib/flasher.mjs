// The e2e's flashing host: a network namespace running Debian's real sshd (test/helpers/ssh-host.ts,
// root login with a key, host key pinned in a test ssh_config). Long-running: prints what the shell
// needs as KEY=VALUE lines, then "ready"; on SIGTERM/SIGINT/SIGHUP, or when the shell that started it
// is gone, it stops sshd and every process in the namespace by PID and deletes the namespace.
// Usage: node test/e2e/lib/flasher.mjs WORKDIR PREFIX SHELL_PID
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const [work, prefix, shellPid] = process.argv.slice(2);
if (!work || !prefix || !(Number(shellPid) > 1)) {
  console.error('usage: flasher.mjs WORKDIR PREFIX SHELL_PID');
  process.exit(2);
}
const repo = fileURLToPath(new URL('../../..', import.meta.url));
mkdirSync(work, { recursive: true });
const helper = join(work, 'ssh-host.mjs');
await build({
  entryPoints: [join(repo, 'test/helpers/ssh-host.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  outfile: helper,
  logLevel: 'warning',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
const { startSshHost } = await import(pathToFileURL(helper).href);

const host = await startSshHost({ prefix, users: [] });
let stopping = null;
const stop = (code) => {
  stopping ??= host.stop().finally(() => process.exit(code));
  return stopping;
};
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => void stop(0));
// A shell killed with SIGKILL runs no trap: notice that its PID is gone and clean up anyway.
setInterval(() => {
  try {
    process.kill(Number(shellPid), 0);
  } catch {
    void stop(1);
  }
}, 2000);

const out = { ns: host.ns, addr: host.addr, port: host.port, alias: host.alias, ssh_config: host.sshConfig, dir: host.dir, sshd_pid: host.sshdPid };
for (const [k, v] of Object.entries(out)) process.stdout.write(`${k}=${v}\n`);
process.stdout.write('ready\n');
