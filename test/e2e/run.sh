#!/usr/bin/env bash
# Metis end-to-end proof: build a class image → burn it for a node → boot it under QEMU (TCG) in a
# private network namespace with real disks, an iSCSI target and a k3s /cacerts endpoint → check
# the converged node from outside over SSH → idempotence, drift, reboot, second node.
# Needs root (namespaces, taps, tgtd). Prints a pass/fail line per step; exits 1 if any step failed
# or could not run. Everything it starts is stopped by PID and every namespace is removed on exit.
# Usage: run.sh [vendor|arm64|node1]   (for iteration: only step 9, the vendor base, step 10, arm64,
#        or steps 1-7e, node 1's burn, boots, checks, the fleet commands, its two replacements and
#        the disk guard)
set -uo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO"
# shellcheck source=test/e2e/lib/harness.sh
source "$REPO/test/e2e/lib/harness.sh"
# shellcheck source=test/e2e/lib/checks.sh
source "$REPO/test/e2e/lib/checks.sh"
# shellcheck source=test/e2e/lib/arm64.sh
source "$REPO/test/e2e/lib/arm64.sh"
# shellcheck source=test/e2e/lib/vendor.sh
source "$REPO/test/e2e/lib/vendor.sh"
# shellcheck source=test/e2e/lib/flasher.sh
source "$REPO/test/e2e/lib/flasher.sh"
# shellcheck source=test/e2e/lib/operator.sh
source "$REPO/test/e2e/lib/operator.sh"
# shellcheck source=test/e2e/lib/disk-guard.sh
source "$REPO/test/e2e/lib/disk-guard.sh"
ONLY=${1:-}

if [[ $(id -u) -ne 0 ]]; then
  echo "e2e: FAIL: needs root (network namespaces, tap devices, tgtd, debootstrap)" >&2
  exit 1
fi
for t in qemu-system-x86_64 qemu-img tgtd tgtadm mkfs.ext4 debugfs mcopy mtype openssl ssh ssh-keygen ip losetup node; do
  command -v "$t" >/dev/null || { echo "e2e: FAIL: missing host tool $t (see .ci/apt-packages)" >&2; exit 1; }
done

T_START=$(date +%s)
WORK=$(mktemp -d /tmp/metis-e2e.XXXXXX)
CACHE="$REPO/.cache/e2e"
mkdir -p "$CACHE"
trap 'arm64_cleanup; flasher_cleanup; cleanup' EXIT
trap 'exit 130' INT TERM

# ---------- 0. bundles ----------
node scripts/build.mjs || { result FAIL "0 build bundles" "npm run build failed"; summary; }

if [[ $ONLY == arm64 ]]; then
  make_ca
  make_secrets
  step_arm64
  summary
fi
# ---------- 1. class image (cached by a hash of its inputs) ----------
step_image
# ---------- 10's class image, beside steps 2-8 (a full run only; test/e2e/lib/arm64.sh) ----------
[[ -z $ONLY ]] && command -v qemu-system-aarch64 >/dev/null && arm64_prebuild
# ---------- network namespace, disks, iSCSI target, /cacerts endpoint ----------
setup_namespace
setup_disks
setup_iscsi
make_ca
make_secrets
setup_cacerts
if [[ $ONLY == vendor ]]; then
  step_vendor
  summary
fi
# ---------- 2. burn node 1 ----------
burn_node 1
# ---------- 3+4. first boot and the converged node ----------
if boot_node 1 first; then
  checks_converged 1
  # ---------- 5. second run changes nothing ----------
  step_idempotent 1
  # ---------- 6. drift ----------
  step_drift 1
  # ---------- 6b-6d. the fleet: metis check, push, status (test/e2e/lib/operator.sh) ----------
  step_fleet
  # ---------- 7. reboot ----------
  shutdown_node 1
  if boot_node 1 reboot; then
    step_reboot 1
    # ---------- 7a. escrow node 1's identity while it runs ----------
    step_capture
    # ---------- 7c. (E2E_BOOT_BEFORE=REF only) the same no-op reboot with REF's bootstrap ----------
    boot_before 1
  fi
  shutdown_node 1
  # ---------- 7e. the Longhorn disk guard: boot without disk B, k3s stays down; hot-plug, converge ----------
  step_disk_guard
  check "7 card after poweroff (host side): secrets gone from its FAT" c_card_scrubbed 1
  # ---------- 7b. node 1's card dies: metis replace from the escrow, boot, metis wait ----------
  step_replace
  # ---------- 7d. and again without escrow: a new identity, the Node deleted, metis wait ----------
  step_replace_new
else
  for s in "4 converged node" "5 second run" "6 drift" "6b-6d fleet" "7 reboot" "7a-7b replace" "7d replace without escrow" "7e disk guard"; do result NOTRUN "$s" "node 1 did not come up (see above)"; done
fi
[[ $ONLY == node1 ]] && summary
# ---------- 8. second node from the same image ----------
burn_node 2
if boot_node 2 first; then step_second_node; else result NOTRUN "8 second node identity" "node 2 did not come up"; fi
shutdown_node 2
# ---------- 9. a class image on a vendor base: build, burn, boot, converge ----------
arm64_prebuild_collect
step_vendor
# ---------- 10. arm64: class image, burn, boot under qemu-system-aarch64 -M virt, converge, no-op second run ----------
step_arm64

summary
