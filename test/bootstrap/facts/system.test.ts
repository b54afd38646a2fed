import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { liveHostname, liveInterfaces, osRelease } from '../../../src/bootstrap/facts/system.js';
import { useSysroot } from '../sysroot.js';
import { makeContext } from '../../helpers/context.js';

let root: string;
useSysroot('metis-facts-', (r) => (root = r), { debian: false });

describe('system facts', () => {
  it('live hostname and interfaces come from the running kernel', async () => {
    const ctx = makeContext({ root });
    expect(await liveHostname(ctx)).toBe(hostname());
    const ifs = await liveInterfaces(ctx);
    expect(ifs.map((i) => i.name)).toEqual(readdirSync('/sys/class/net').sort());
    const lo = ifs.find((i) => i.name === 'lo');
    expect(lo?.mac).toBe(readFileSync('/sys/class/net/lo/address', 'utf8').trim());
  });

  it('os-release comes from the managed root, cached for the run', async () => {
    const ctx = makeContext({ root });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n');
    expect(await osRelease(ctx)).toMatchObject({ ID: 'debian', VERSION_CODENAME: 'bookworm', PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)' });
    writeFileSync(join(root, 'etc/os-release'), 'ID=changed\n');
    expect((await osRelease(ctx)).ID).toBe('debian');
  });
});
