import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { journaldModule } from '../../../src/bootstrap/modules/journald.js';
import { useSysroot } from '../sysroot.js';
import { convergeLoop, makeContext } from '../../helpers/context.js';

let root: string;
useSysroot('metis-mod-journald-', (r) => (root = r), { debian: false });

describe('journald module', () => {
  it('writes the drop-in from the manifest section', async () => {
    const ctx = makeContext({ root });
    await convergeLoop(journaldModule, ctx.manifest.journald, ctx);
    const text = readFileSync(join(root, 'etc/systemd/journald.conf.d/60-metis.conf'), 'utf8');
    expect(text.split('\n').filter((l) => !l.startsWith('#'))).toEqual(['[Journal]', 'Storage=persistent', 'SystemMaxUse=200M', 'MaxRetentionSec=2week', '']);
  });

  it('a changed limit is a change', async () => {
    const ctx = makeContext({ root });
    await convergeLoop(journaldModule, { storage: 'persistent', systemMaxUse: '100M' }, ctx);
    const c = await journaldModule.check(journaldModule.args.parse({ storage: 'volatile', systemMaxUse: '100M' }), ctx);
    if (c.status !== 'change') throw new Error(`expected a change, got ${c.status}`);
    expect(c.diff?.[0]?.after).toContain('Storage=volatile');
  });
});
