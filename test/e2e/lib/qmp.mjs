// QMP client for the e2e (QEMU's machine protocol on the guest's unix socket): node qmp.mjs SOCKET CMD...
// Each CMD is one JSON command ({"execute":…,"arguments":…}), sent in order after the capabilities
// handshake; each reply is printed on a line. Exits 1 on the first error reply, on a closed socket, or
// after 20 s (bounded: a stuck QEMU must not hang the run).
import { createConnection } from 'node:net';

const [sock, ...cmds] = process.argv.slice(2);
const queue = [{ execute: 'qmp_capabilities' }, ...cmds.map((c) => JSON.parse(c))];
const timer = setTimeout(() => fail('no reply within 20 s'), 20_000);
const conn = createConnection(sock);
let buf = '';
let greeted = false;
let waiting = null;

function fail(why) {
  console.error(`qmp: ${why}`);
  process.exit(1);
}
function next() {
  waiting = queue.shift() ?? null;
  if (!waiting) {
    clearTimeout(timer);
    conn.end();
    return;
  }
  conn.write(`${JSON.stringify(waiting)}\n`);
}
conn.on('error', (e) => fail(e.message));
conn.on('close', () => waiting && fail(`socket closed while waiting for ${waiting.execute}`));
conn.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl).trim();
    buf = buf.slice(nl + 1);
    if (!line) continue;
    const msg = JSON.parse(line);
    if (msg.event) continue;
    if (!greeted) {
      if (!msg.QMP) fail(`no greeting: ${line}`);
      greeted = true;
      next();
      continue;
    }
    if (msg.error) fail(`${waiting?.execute}: ${msg.error.class}: ${msg.error.desc}`);
    if (waiting?.execute !== 'qmp_capabilities') console.log(`${waiting?.execute}: ${JSON.stringify(msg.return)}`);
    next();
  }
});
