import { spawn } from 'node:child_process';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

async function onPath(cmd: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  for (const dir of (env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
    if (await access(join(dir, cmd), constants.X_OK).then(() => true, () => false)) return true;
  }
  return false;
}

/**
 * Opens the page in the desktop's browser without putting the token on a command line (visible in
 * `ps`): the opener gets a 0600 file in a private directory that redirects to the URL. Returns a
 * cleanup, or null when there is no opener (then the printed URL is the way in).
 */
export async function openBrowser(url: string, env: NodeJS.ProcessEnv): Promise<(() => Promise<void>) | null> {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  if (!(await onPath(opener, env))) return null;
  const dir = await mkdtemp(join(tmpdir(), 'metis-ui-'));
  const file = join(dir, 'open.html');
  await writeFile(file, `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${url}"><title>metis ui</title><a href="${url}">metis ui</a>\n`, { mode: 0o600 });
  const child = spawn(opener, [file], { detached: true, stdio: 'ignore', env });
  child.on('error', () => {});
  child.unref();
  return () => rm(dir, { recursive: true, force: true });
}
