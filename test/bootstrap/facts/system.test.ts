import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerName, kernelHostname } from '../../../src/bootstrap/facts/system.js';
import { useSysroot } from '../sysroot.js';
import { makeContext } from '../../helpers/context.js';

let root: string;
useSysroot('metis-facts-', (r) => (root = r), { debian: false });

describe('system facts', () => {
  it('the hostname comes from the running kernel', async () => {
    expect(await kernelHostname()).toBe(hostname());
  });

  it('are read from the sources the context names, once per run, until forgotten', async () => {
    mkdirSync(join(root, 'proc/sys/kernel'), { recursive: true });
    mkdirSync(join(root, 'run/systemd'), { recursive: true });
    writeFileSync(join(root, 'proc/sys/kernel/hostname'), 'titan-13\n');
    writeFileSync(join(root, 'run/systemd/container'), 'systemd-nspawn\n');
    const ctx = makeContext({ root, factSources: { proc: join(root, 'proc'), run: join(root, 'run') } });
    expect(await ctx.facts.hostname()).toBe('titan-13');
    expect(await ctx.facts.container()).toBe('systemd-nspawn');
    writeFileSync(join(root, 'proc/sys/kernel/hostname'), 'renamed\n');
    expect(await ctx.facts.hostname()).toBe('titan-13');
    ctx.facts.forget({ hostname: true });
    expect(await ctx.facts.hostname()).toBe('renamed');
  });

  it('no container file: not in a container', async () => {
    expect(await containerName(join(root, 'nowhere'))).toBeNull();
  });

  it('the network backend is detected from the managed root', async () => {
    const ctx = makeContext({ root });
    expect(await ctx.facts.networkBackend()).toBe('networkd');
    mkdirSync(join(root, 'etc/NetworkManager'), { recursive: true });
    mkdirSync(join(root, 'usr/sbin'), { recursive: true });
    writeFileSync(join(root, 'usr/sbin/NetworkManager'), '');
    expect(await makeContext({ root }).facts.networkBackend()).toBe('networkmanager');
  });
});
