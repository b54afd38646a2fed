import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Debian 12 packages fetched with apt-get download into .cache/debs (gitignored) and unpacked once. */
const CACHE = join(process.cwd(), '.cache/debs');

function fetchDeb(pkg: string, version?: string): string | { skip: string } {
  mkdirSync(CACHE, { recursive: true });
  const find = () => readdirSync(CACHE).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb') && (!version || f.includes(version.replace(':', '%3a'))));
  let deb = find();
  if (!deb) {
    try {
      execFileSync('apt-get', ['download', version ? `${pkg}=${version}` : pkg], { cwd: CACHE, stdio: 'pipe', timeout: 120_000 });
    } catch (e) {
      return { skip: `apt-get download ${pkg} failed (run apt-get update?): ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n').pop()}` };
    }
    deb = find();
    if (!deb) return { skip: `apt-get download ${pkg} left no .deb` };
  }
  const dir = join(CACHE, deb.replace(/\.deb$/, ''));
  if (!existsSync(dir)) {
    mkdirSync(dir);
    execFileSync('dpkg-deb', ['-x', join(CACHE, deb), dir]);
  }
  return dir;
}

/** Debian's sshd binary and the host libraries it links (same Debian release as the host). */
export function debianSshd(): { binary: string; libs: string[] } | { skip: string } {
  const dir = fetchDeb('openssh-server');
  if (typeof dir !== 'string') return dir;
  const binary = join(dir, 'usr/sbin/sshd');
  const ldd = execFileSync('ldd', [binary], { encoding: 'utf8' });
  if (/not found/.test(ldd)) return { skip: `sshd needs libraries missing on this host: ${ldd.split('\n').filter((l) => l.includes('not found')).join('; ')}` };
  const libs = [...ldd.matchAll(/(\/\S+\.so[^\s]*)/g)].map((m) => m[1]!);
  return { binary, libs: [...new Set(libs)] };
}

/**
 * Debian 12's nodejs 18 (nodejs + libnode108 unpacked side by side). Debian's node loads some
 * builtins from /usr/share/nodejs (acorn, cjs-module-lexer, undici packages), so it runs in a
 * private mount namespace where an overlay adds those files to /usr/share; the host is untouched.
 */
export function debianNode18(): { argv: (args: string[]) => string[]; env: Record<string, string> } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'needs root: private mount namespace for /usr/share/nodejs' };
  const policy = (() => {
    try {
      return execFileSync('apt-cache', ['madison', 'nodejs'], { encoding: 'utf8' });
    } catch {
      return '';
    }
  })();
  const version = policy.split('\n').map((l) => l.split('|')[1]?.trim()).find((v) => v?.startsWith('18.'));
  if (!version) return { skip: 'no nodejs 18.x in the apt sources (apt-get update?)' };
  const dirs: string[] = [];
  for (const [pkg, v] of [['nodejs', version], ['libnode108', version], ['node-acorn'], ['node-cjs-module-lexer'], ['node-undici']] as const) {
    const d = fetchDeb(pkg, v);
    if (typeof d !== 'string') return d;
    dirs.push(d);
  }
  const [node, lib, ...shares] = dirs;
  const lower = [...shares.map((d) => join(d, 'usr/share')), '/usr/share'].join(':');
  return {
    argv: (args) => ['unshare', '-m', 'sh', '-c', `mount -t overlay metis-node18 -o lowerdir=${lower} /usr/share && exec "$@"`, 'sh', join(node!, 'usr/bin/node'), ...args],
    env: { LD_LIBRARY_PATH: join(lib!, 'usr/lib/x86_64-linux-gnu') },
  };
}
