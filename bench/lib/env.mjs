// The environment the burn benches time commands in. NODE_EXTRA_CA_CERTS makes node (18–22) build
// its whole root store and parse the named file with OpenSSL 3 before any JavaScript runs
// (nodejs/node#40524): 30–80 ms at every start on the bench machine, paid by Metis and by the
// bench's node floor row but not by bmaptool (python). `sudo`, the documented way to run these
// benches, resets the environment and drops it; a root shell that sets it (a sandbox's proxy CA)
// would time the variable, not the code. So the benches drop it too and say so; bench:burn-ab
// shows what it costs in a row of its own when it was set.

/** `env` without NODE_EXTRA_CA_CERTS, and the value it had (undefined when unset). */
export function benchEnv(env = process.env) {
  const { NODE_EXTRA_CA_CERTS: extraCa, ...rest } = env;
  return { env: rest, extraCa };
}

/** The one line a bench prints when it dropped the variable. */
export function extraCaNote(extraCa) {
  return `NODE_EXTRA_CA_CERTS=${extraCa} is set here: commands are timed without it, as under sudo (node loads it at every start, nodejs/node#40524; python does not)`;
}
