#!/usr/bin/env bash
# arm64 smoke test: the real fleet is arm64. Runs the bootstrap bundle on Debian 12's arm64 node 18
# under qemu-user (binfmt) in a minimal arm64 root: --version, then a full --check plan of the example
# manifest against a sysroot.
# Usage: arm64-smoke.sh CACHE_DIR. Exit 0 = pass. The arm64 root is cached by its inputs.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE=$(realpath -m "${1:?cache dir}")
SUITE=bookworm
ROOT="$CACHE/arm64-minbase-nodejs-$SUITE"
# The host's own Debian mirror, read at run time (never written into the repo).
MIRROR=$(awk -v s="$SUITE" 'BEGIN{RS=""} /^Types:.*deb/ && $0 ~ ("Suites:[^\n]*[ ]" s "([ \n]|$)") { for (i=1;i<=NF;i++) if ($i=="URIs:") { print $(i+1); exit } }' /etc/apt/sources.list.d/debian.sources)
[[ -n $MIRROR ]] || { echo "arm64 smoke: no Debian mirror for $SUITE in /etc/apt/sources.list.d/debian.sources"; exit 1; }

[[ -e /proc/sys/fs/binfmt_misc/status ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64

if [[ ! -x $ROOT/usr/bin/node ]]; then
  rm -rf "$ROOT.partial"
  mkdir -p "$CACHE/debs-arm64"
  debootstrap --variant=minbase --arch=arm64 --cache-dir="$CACHE/debs-arm64" --include=nodejs "$SUITE" "$ROOT.partial" "$MIRROR" >"$CACHE/arm64-debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/arm64-debootstrap.log"; exit 1; }
  mv "$ROOT.partial" "$ROOT"
fi
install -m 0755 "$REPO/dist/metis-bootstrap.js" "$ROOT/usr/local/bin/metis-bootstrap"
install -m 0644 "$REPO/examples/node.yaml" "$ROOT/tmp/node.yaml"
# The plan runs against a sysroot inside the arm64 root: a chroot has no running systemd, and with
# --root other than / the bootstrap skips live-system commands (systemctl, hostname) by design.
rm -rf "$ROOT/tmp/metis-state" "$ROOT/srv/sysroot"
mkdir -p "$ROOT/srv/sysroot/etc" && cp "$ROOT/etc/passwd" "$ROOT/etc/group" "$ROOT/srv/sysroot/etc/"
run() { env -u NODE_EXTRA_CA_CERTS chroot "$ROOT" "$@"; }

echo "arm64: $(run /usr/bin/node -p 'process.arch + " node " + process.version')"
[[ $(run /usr/bin/node -p process.arch) == arm64 ]] || { echo "arm64 smoke: node in the root is not arm64"; exit 1; }
run /usr/bin/node /usr/local/bin/metis-bootstrap --version
set +e
run /usr/bin/node /usr/local/bin/metis-bootstrap --check --root /srv/sysroot --manifest /tmp/node.yaml --state-dir /tmp/metis-state >"$CACHE/arm64-check.log" 2>&1
rc=$?
set -e
tail -3 "$CACHE/arm64-check.log"
# 0 = nothing to change, 2 = drift found: both mean the bundle ran the whole plan on arm64.
if [[ $rc -ne 0 && $rc -ne 2 ]]; then echo "arm64 smoke: --check exited $rc"; tail -20 "$CACHE/arm64-check.log"; exit 1; fi
grep -q 'ok=[0-9]* changed=[0-9]*' "$CACHE/arm64-check.log" || { echo "arm64 smoke: no recap line"; exit 1; }
echo "arm64 smoke: --check exit $rc"
