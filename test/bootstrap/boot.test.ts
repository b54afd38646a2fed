import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bootExitCode, notifyReady, waitOnline } from '../../src/bootstrap/boot.js';
import { tempRoot } from '../helpers/context.js';

// A real sd_notify receiver: an AF_UNIX datagram socket (node has none, python does) that prints
// every message and closes any file descriptor passed with it (systemd-notify's BARRIER=1 waits for
// its pipe to close, as systemd does when it has read the message).
const RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
s.settimeout(20)
for _ in range(4):
    try:
        msg, fds, _f, _a = socket.recv_fds(s, 4096, 8)
    except socket.timeout:
        break
    for fd in fds:
        os.close(fd)
    print(msg.decode().replace("\\n", " ").strip(), flush=True)
    if b"BARRIER=1" in msg:
        break
`;

const hasTools = spawnSync('systemd-notify', ['--version']).status === 0 && spawnSync('python3', ['--version']).status === 0;
if (!hasTools) console.warn('skip: boot notify test: needs systemd-notify (Debian systemd) and python3');

describe('boot run steps', () => {
  const { root, cleanup } = tempRoot('metis-boot-');
  afterAll(() => cleanup());

  it.skipIf(!hasTools)('READY=1 reaches NOTIFY_SOCKET through the real systemd-notify, and the variable is removed', async () => {
    const sock = join(root, 'notify.sock');
    const rx = spawn('python3', ['-c', RECEIVER, sock], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    rx.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise((r) => rx.on('close', r));
    try {
      for (let i = 0; i < 100 && !out.includes('bound'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain('bound');
      // The socket reaches systemd-notify alone (this process's environment has none).
      const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: sock };
      expect(process.env.NOTIFY_SOCKET).toBeUndefined();
      const r = await notifyReady(env);
      expect(r).toEqual({ ok: true, note: 'READY=1 sent' });
      expect(env.NOTIFY_SOCKET).toBeUndefined();
      await exited;
      expect(out).toMatch(/READY=1/);
      expect(out).toMatch(/STATUS=early phase done/);
    } finally {
      rx.kill();
    }
  });

  it('outside a notify unit nothing is spawned', async () => {
    let spawned = 0;
    const r = await notifyReady({}, async () => {
      spawned++;
      return { exitCode: 0, stderr: '', timedOut: false };
    });
    expect(r.ok).toBe(true);
    expect(spawned).toBe(0);
  });

  it('waits for metis-online.target only on a live system; a failed wait is reported, not fatal', async () => {
    const calls: string[][] = [];
    const fake = async (cmd: string, args: string[]) => {
      calls.push([cmd, ...args]);
      return { exitCode: 1, stderr: 'Job for metis-online.target failed', timedOut: false };
    };
    expect((await waitOnline(false, fake)).ok).toBe(true);
    expect(calls).toEqual([]);
    const r = await waitOnline(true, fake);
    expect(calls).toEqual([['systemctl', 'start', 'metis-online.target']]);
    expect(r.ok).toBe(false);
    expect(r.note).toMatch(/exited 1: Job for metis-online.target failed/);
  });

  it.each([
    [0, 0, 0],
    [2, 0, 2],
    [0, 2, 2],
    [4, 0, 0],
    [2, 4, 6],
    [1, 2, 2],
    [0, 1, 1],
    [6, 6, 6],
  ])('exit code of early %i and full %i is %i', (early, full, code) => {
    expect(bootExitCode(early, full)).toBe(code);
  });
});
