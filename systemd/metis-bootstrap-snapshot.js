'use strict';
// Entry of metis-bootstrap's V8 startup snapshot, built on the node by metis-bootstrap-start
// (`node FLAGS --snapshot-blob BLOB --build-snapshot THIS`) and installed as
// /usr/local/lib/metis/metis-bootstrap-snapshot.js. It holds node's own bootstrapped state and
// nothing of Metis: no manifest, no environment, no module of the bundle (the bundle is loaded and
// run after the snapshot is restored, as `node BUNDLE` would, with its own V8 code cache).
const fs = require('fs');
const path = require('path');
const v8 = require('v8');

// The node binary this snapshot was built by. A node upgraded in place keeps the V8 version (a
// Debian security update), so V8 may accept an old snapshot whose node internals no longer match
// the binary: such a run stops at once (75) without starting, and the wrapper drops the snapshot.
const nodeId = () => {
  const s = fs.statSync(process.execPath);
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
};
const builtBy = nodeId();

v8.startupSnapshot.setDeserializeMainFunction(() => {
  const pending = process.env.METIS_SNAPSHOT_PENDING;
  delete process.env.METIS_SNAPSHOT_PENDING;
  if (nodeId() !== builtBy) process.exit(75);
  // The wrapper's mark that the run has not started yet: gone means it has.
  if (pending) fs.rmSync(pending, { force: true });
  // node 18 warns that `module` is "not yet supported in user snapshots": true while building, not
  // for a load after the snapshot is restored, which is a plain load; the warning would reach the
  // journal at every start.
  const warn = process.emitWarning;
  process.emitWarning = () => {};
  let Module;
  try {
    Module = require('module');
  } finally {
    process.emitWarning = warn;
  }
  // process.argv is [node, BUNDLE, ...args] (`node --snapshot-blob B -- BUNDLE ARGS`): run BUNDLE
  // as the main module, its path made absolute as node does for `node BUNDLE`.
  process.argv[1] = path.resolve(process.argv[1]);
  Module.runMain();
});
