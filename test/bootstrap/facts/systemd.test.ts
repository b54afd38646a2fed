import { describe, expect, it } from 'vitest';
import type { Exec } from '../../../src/bootstrap/exec.js';
import { Facts } from '../../../src/bootstrap/facts/index.js';
import { RootedFs } from '../../../src/bootstrap/rooted-fs.js';

/** A live `systemctl show` recorded and answered (this machine's manager is never asked). */
function systemctl(states: Record<string, string>) {
  const calls: string[][] = [];
  const exec = Object.assign(
    async (cmd: string, args: readonly string[]) => {
      calls.push([cmd, ...args]);
      await new Promise((r) => setTimeout(r, 10));
      const units = args.slice(args.indexOf('--') + 1);
      const stdout = units.map((u) => `Id=${u}\nActiveState=${states[u] ?? 'inactive'}\nUnitFileState=enabled\nJob=\nExecMainStartTimestampMonotonic=0`).join('\n\n');
      return { exitCode: 0, stdout, stderr: '' };
    },
    { count: () => calls.length },
  ) as Exec;
  return { exec, calls };
}

describe('systemd facts', () => {
  it("units asked for in one turn (the modules' prepares) share one systemctl show; a unit being read is not read again", async () => {
    const s = systemctl({ 'k3s-agent.service': 'active', 'ssh.service': 'active' });
    const facts = new Facts({ fs: new RootedFs('/'), exec: s.exec, live: true });
    await Promise.all([facts.loadUnits(['ssh.service', 'iscsid.service']), facts.loadUnits(['k3s-agent.service', 'ssh.service'])]);
    expect(s.calls).toEqual([['systemctl', 'show', '-p', 'Id,ActiveState,UnitFileState,Job,ExecMainStartTimestampMonotonic', '--', 'ssh.service', 'iscsid.service', 'k3s-agent.service']]);
    // Asked while the batch is being read, and after: no second process.
    expect((await facts.unit('k3s-agent.service')).activeState).toBe('active');
    expect((await facts.unit('iscsid.service')).activeState).toBe('inactive');
    expect(s.calls).toHaveLength(1);
    const late = facts.loadUnits(['chrony.service']);
    const same = facts.unit('chrony.service');
    await Promise.all([late, same]);
    expect(s.calls).toHaveLength(2);
    // A forgotten unit is read again.
    facts.forget({ unit: 'ssh.service' });
    await facts.unit('ssh.service');
    expect(s.calls[2]!.slice(-1)).toEqual(['ssh.service']);
  });
});
