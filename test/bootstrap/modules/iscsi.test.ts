import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { currentName, iscsiModule } from '../../../src/bootstrap/modules/iscsi.js';
import { convergeLoop, makeContext, tempRoot } from '../../helpers/context.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));
function root(initiator: string): string {
  const t = tempRoot();
  cleanups.push(t.cleanup);
  mkdirSync(join(t.root, 'usr/sbin'), { recursive: true });
  writeFileSync(join(t.root, 'usr/sbin/iscsiadm'), '');
  mkdirSync(join(t.root, 'etc/iscsi'), { recursive: true });
  writeFileSync(join(t.root, 'etc/iscsi/initiatorname.iscsi'), initiator);
  return t.root;
}
const file = (r: string) => readFileSync(join(r, 'etc/iscsi/initiatorname.iscsi'), 'utf8');

describe('iscsi initiator name', () => {
  it('takes the manifest’s name (same node after reflash), 0600', async () => {
    const r = root('GenerateName=yes\n');
    await convergeLoop(iscsiModule, { initiatorName: 'iqn.2004-10.com.ubuntu:01:titan-13' }, makeContext({ root: r }));
    expect(file(r)).toBe('InitiatorName=iqn.2004-10.com.ubuntu:01:titan-13\n');
    expect(statSync(join(r, 'etc/iscsi/initiatorname.iscsi')).mode & 0o777).toBe(0o600);
  });

  it('treats the image’s unprocessed GenerateName=yes as drift and generates a unique name once', async () => {
    const names = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = root('GenerateName=yes\n');
      await convergeLoop(iscsiModule, { initiatorName: '' }, makeContext({ root: r }));
      names.add(currentName(file(r))!);
    }
    expect(names.size).toBe(3);
    for (const n of names) expect(n).toMatch(/^iqn\.1993-08\.org\.debian:01:[0-9a-f]{12}$/);
  });

  it('keeps a name generated earlier', async () => {
    const r = root('InitiatorName=iqn.1993-08.org.debian:01:abcdef012345\n');
    const a = iscsiModule.args.parse({});
    expect((await iscsiModule.check(a, makeContext({ root: r }))).status).toBe('ok');
  });

  it('fails clearly when open-iscsi is not in the image', async () => {
    const t = tempRoot();
    cleanups.push(t.cleanup);
    const ctx = makeContext({ root: t.root });
    const a = iscsiModule.args.parse({});
    expect(await iscsiModule.check(a, ctx)).toEqual({ status: 'fail', reason: expect.stringMatching(/not installed/) });
  });

  it('live: logs in only to targets without a session, as sysfs lists them (no iscsiadm -m session)', async () => {
    const r = root('InitiatorName=iqn.1993-08.org.debian:01:abcdef012345\n');
    const sys = join(r, 'fake-sys');
    const session = (n: number, iqn: string) => {
      mkdirSync(join(sys, `class/iscsi_session/session${n}`), { recursive: true });
      writeFileSync(join(sys, `class/iscsi_session/session${n}/targetname`), `${iqn}\n`);
    };
    const a = iscsiModule.args.parse({
      targets: [
        { portal: '192.168.22.5', iqn: 'iqn.2026-01.lab:disk1' },
        { portal: '192.168.22.5', iqn: 'iqn.2026-01.lab:disk10' },
      ],
    });
    // live: true with a fake sysfs; check only reads, and its actions are not carried out here.
    const ctx = () => ({ ...makeContext({ root: r, factSources: { sys } }), live: true });
    // No iSCSI class in sysfs (module not loaded): no session, both targets are logged in.
    const none = await iscsiModule.check(a, ctx());
    expect(none.status).toBe('change');
    expect(none.status === 'change' && none.diff!.map((d) => d.target)).toEqual(['iSCSI session iqn.2026-01.lab:disk1', 'iSCSI session iqn.2026-01.lab:disk10']);
    // A session to disk10 only: disk1 is still missing (a name that is a prefix of another is not a match).
    session(1, 'iqn.2026-01.lab:disk10');
    const one = await iscsiModule.check(a, ctx());
    expect(one.status === 'change' && one.diff!.map((d) => d.target)).toEqual(['iSCSI session iqn.2026-01.lab:disk1']);
    expect(one.status === 'change' && one.actions.map((x) => x.kind === 'run' && x.argv.join(' '))).toEqual([
      'iscsiadm -m discovery -t sendtargets -p 192.168.22.5',
      'iscsiadm -m node -T iqn.2026-01.lab:disk1 -p 192.168.22.5 --login',
    ]);
    session(2, 'iqn.2026-01.lab:disk1');
    const ctx2 = ctx();
    expect(await iscsiModule.check(a, ctx2)).toEqual({ status: 'ok' });
    expect(ctx2.exec.count()).toBe(0);
  });
});
