// bench/fleet: `metis check --all` over 10 SSH hosts against `ansible-playbook --check` managing the
// same resources on the same hosts (Debian's ansible-core, forks=10). Not a test: it asserts only
// that both tools see a converged fleet (no-op), then times RUNS interleaved runs of each and prints
// medians, the ratio (target <= 0.2) and, from an strace of one host's sshd during the first run of
// each tool, the programs executed on that host.
//
// Hosts: test/fleet/fleet-hosts.ts — a network namespace per node running Debian's real sshd, a
// sysroot converged by the real bootstrap bundle (reached over SSH as METIS_BOOTSTRAP). The same
// resources: every path the first converge wrote (its report's diff targets) with the content,
// mode, owner and link target Metis left there, as ansible.builtin.copy / file tasks.
// Usage (root): npm run bench:fleet   (BENCH_RUNS=N, BENCH_HOSTS=N to change the defaults 5 / 10;
// BENCH_LOGIN=machine keeps this machine's root ~/.bashrc for SSH logins, default clean: an empty one,
// as a node's root has — here it runs pyenv init, ~60 programs that every SSH command of either tool pays)
import { execa } from 'execa';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startFleet } from '../../test/fleet/fleet-hosts.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 10);
const LOGIN = process.env.BENCH_LOGIN === 'machine' ? 'machine' : 'clean';
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

it.skipIf(process.getuid?.() !== 0)(`metis check --all vs ansible-playbook --check, ${HOSTS} hosts`, async () => {
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const fleet = await startFleet(HOSTS, { prefix: 'mfb', login: LOGIN === 'clean' ? 'empty' : 'machine' });
  try {
    // 1. Burn and converge every node; collect what the first converge wrote.
    const written = new Map<string, string[]>();
    for (let i = 0; i < fleet.nodes.length; i += 5) {
      await Promise.all(
        fleet.nodes.slice(i, i + 5).map(async (n) => {
          await fleet.burnCard(n.name);
          const r = await execa('node', ['dist/metis-bootstrap.js', '--root', n.root, '--json'], { reject: false, env: { NODE_EXTRA_CA_CERTS: '' } });
          const report = JSON.parse(String(r.stdout)) as { tasks: Array<{ diff?: Array<{ target: string }> }> };
          const paths = report.tasks.flatMap((t) => (t.diff ?? []).map((d) => d.target)).filter((p) => p.startsWith('/'));
          written.set(n.name, [...new Set(paths)]);
        }),
      );
    }
    // 2. The same resources as a playbook: one play, per-host vars carrying each host's root.
    const play = join(fleet.dir, 'ansible');
    mkdirSync(join(play, 'files'), { recursive: true });
    const tasks: string[] = [];
    const first = fleet.nodes[0]!;
    let files = 0;
    let links = 0;
    for (const p of written.get(first.name)!) {
      let st;
      try {
        st = lstatSync(join(first.root, p));
      } catch {
        continue; // a diff target that is not a path on disk (a removed file, a live value)
      }
      const owner = st.uid === 0 ? 'root' : String(st.uid);
      const mode = `0${(st.mode & 0o7777).toString(8)}`;
      if (st.isSymbolicLink()) {
        tasks.push(`    - ansible.builtin.file: { path: "{{ root }}${p}", src: "${readlinkSync(join(first.root, p))}", state: link, force: false }`);
        links++;
      } else if (st.isFile()) {
        // Each node's own content: the per-node files differ (hostname, addresses, identity).
        for (const n of fleet.nodes) {
          mkdirSync(join(play, 'files', n.name), { recursive: true });
          copyFileSync(join(n.root, p), join(play, 'files', n.name, String(files)));
        }
        tasks.push(`    - ansible.builtin.copy: { src: "${play}/files/{{ inventory_hostname }}/${files}", dest: "{{ root }}${p}", mode: "${mode}", owner: ${owner}, group: ${owner} }`);
        files++;
      }
    }
    writeFileSync(join(play, 'play.yml'), ['- hosts: all', '  gather_facts: false', '  tasks:', ...tasks, ''].join('\n'));
    writeFileSync(
      join(play, 'hosts.ini'),
      fleet.nodes.map((n) => `${n.name} ansible_host=${n.host.addr} ansible_port=${n.host.port} ansible_user=root root=${n.root}`).join('\n') + '\n',
    );
    writeFileSync(join(play, 'ansible.cfg'), `[defaults]\nforks = 10\nhost_key_checking = True\ninterpreter_python = /usr/bin/python3\n[ssh_connection]\nssh_args = -F ${fleet.env.METIS_SSH_CONFIG} -o ControlMaster=auto -o ControlPersist=60s\n`);
    const ansible = () => execa('ansible-playbook', ['--check', '-i', join(play, 'hosts.ini'), join(play, 'play.yml')], { reject: false, env: { ANSIBLE_CONFIG: join(play, 'ansible.cfg'), ANSIBLE_NOCOLOR: '1' } });
    const metis = () => execa('node', ['dist/metis.js', 'check', '--all', '--inventory', fleet.inventory], { reject: false, env: { ...fleet.env } });

    // 3. Interleaved runs; every run must find a converged fleet (no-op). The first run of each tool
    // is also traced: strace on one host's sshd listener counts the programs that run on that host
    // (both tools pay the same tracing cost on that one host).
    const host = fleet.nodes[fleet.nodes.length > 1 ? 1 : 0]!.host;
    const traced = async <T>(trace: boolean, tag: string, run: () => Promise<T>) => {
      if (!trace) return { r: await run(), n: 0, progs: '' };
      const out = join(fleet.dir, `strace.${tag}`);
      const st = execa('strace', ['-f', '-qq', '-e', 'trace=execve', '-o', out, '-p', String(host.sshdPid)], { reject: false });
      await new Promise((res) => setTimeout(res, 1000));
      const r = await run();
      st.kill('SIGINT');
      await st;
      const lines = readFileSync(out, 'utf8').split('\n').filter((l) => /execve\(.*= 0$/.test(l));
      const progs = new Map<string, number>();
      for (const l of lines) {
        const prog = /execve\("([^"]+)"/.exec(l)?.[1]?.split('/').pop() ?? '?';
        progs.set(prog, (progs.get(prog) ?? 0) + 1);
      }
      return { r, n: lines.length, progs: [...progs].map(([k, v]) => `${k}×${v}`).join(' ') };
    };
    const tm: number[] = [];
    const ta: number[] = [];
    let pm = { n: 0, progs: '' };
    let pa = { n: 0, progs: '' };
    for (let i = 0; i < RUNS; i++) {
      let t = Date.now();
      const m = await traced(i === 0, 'metis', metis);
      tm.push(Date.now() - t);
      expect(m.r.exitCode, String(m.r.stdout) + String(m.r.stderr)).toBe(0);
      if (i === 0) pm = m;
      t = Date.now();
      const a = await traced(i === 0, 'ansible', ansible);
      ta.push(Date.now() - t);
      expect(String(a.r.stdout).match(new RegExp(`ok=${files + links} +changed=0 +unreachable=0 +failed=0`, 'g')), String(a.r.stdout)).toHaveLength(HOSTS);
      if (i === 0) pa = a;
    }

    const M = median(tm);
    const A = median(ta);
    const lines = [
      `bench/fleet: check ${HOSTS} SSH hosts (network namespaces, Debian sshd, converged sysroots), ${RUNS} runs each, interleaved`,
      `  root's login environment on the hosts: ${LOGIN === 'clean' ? 'an empty ~/.bashrc (BENCH_LOGIN=machine: this machine\'s)' : "this machine's ~/.bashrc (pyenv init)"}`,
      `  resources per host: ${files} files (content, mode, owner) + ${links} symlinks = what the first converge wrote`,
      `  host load average (1/5/15 min): ${load0} before, ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} after; ${(await execa('nproc')).stdout} cores`,
      `  metis check --all                      ${M} ms median (runs: ${tm.join(' ')})`,
      `  ansible-playbook --check (forks=10)    ${A} ms median (runs: ${ta.join(' ')})`,
      `  ratio metis/ansible = ${(M / A).toFixed(3)} (target <= 0.200)`,
      `  programs executed on one host per run: metis ${pm.n} (${pm.progs}); ansible ${pa.n} (${pa.progs})`,
    ];
    console.log(lines.join('\n'));
    writeFileSync(join(process.cwd(), '.cache', 'bench-fleet.txt'), `${lines.join('\n')}\n`);
  } finally {
    await fleet.stop();
  }
}, 1_800_000);
