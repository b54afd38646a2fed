# shellcheck shell=bash
# Step 10 of test/e2e/run.sh: the fleet's architecture. Builds the arm64 class image with the real
# `metis image build` (debootstrap under qemu-user), burns it for an arm64 node with the real
# `metis burn`, then runs the image's own bundle on the image's own arm64 node 18 under qemu-user:
# `metis-bootstrap --check --json` in a chroot of the burned card's root (an overlay on a read-only
# loop, so the card's bytes never change), with the manifest read back from the card's FAT.
# No systemd runs in a chroot, so the bootstrap plans offline (it says so: "not live").
ARM_LOOP=""
declare -a ARM_MOUNTS=()

arm64_cleanup() {
  local i
  for ((i = ${#ARM_MOUNTS[@]} - 1; i >= 0; i--)); do umount "${ARM_MOUNTS[i]}" 2>/dev/null || umount -l "${ARM_MOUNTS[i]}" 2>/dev/null; done
  ARM_MOUNTS=()
  [[ -n $ARM_LOOP ]] && losetup -d "$ARM_LOOP" 2>/dev/null
  ARM_LOOP=""
}

# The card's root partition as a writable tree: ext4 read-only on a loop, an overlay for the run's
# own writes (state dir, fixtures). Sets ARM_ROOT.
arm64_root() {
  local card=$1 d="$WORK/arm64" start size
  read -r start size < <(part_bytes "$card" 2)
  mkdir -p "$d/lower" "$d/upper" "$d/work" "$d/root"
  ARM_LOOP=$(losetup -f --show -r -o "$start" --sizelimit "$size" "$card") || return 1
  mount -t ext4 -o ro,noload "$ARM_LOOP" "$d/lower" && ARM_MOUNTS+=("$d/lower") || return 1
  mount -t overlay overlay -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" "$d/root" && ARM_MOUNTS+=("$d/root") || return 1
  ARM_ROOT="$d/root"
}

arm64_chroot() { env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$ARM_ROOT" "$@"; }

# What the plan must contain: the node's whole first boot, no failed task, and nothing written
# outside the bootstrap's state dir.
arm64_assert_plan() {
  local report=$1 rc=$2 written=$3
  node - "$report" "$rc" "$written" <<'JS'
const [report, rc, written] = process.argv.slice(2);
const r = JSON.parse(require('fs').readFileSync(report, 'utf8'));
const fail = (m) => { console.log(m); process.exit(1); };
if (rc !== '2') fail(`--check exit ${rc}, expected 2 (first boot: drift)`);
if (r.mode !== 'check' || r.error) fail(`report mode ${r.mode}, error ${r.error}`);
if (r.summary.failed !== 0) fail(`failed tasks: ${r.tasks.filter((t) => t.status === 'failed').map((t) => `${t.name}: ${t.reason}`).join('; ')}`);
const changed = new Set(r.tasks.filter((t) => t.status === 'changed').map((t) => t.module));
const want = ['hostname', 'network', 'sshd', 'journald', 'mount', 'k3s', 'identity', 'iscsi'];
const missing = want.filter((m) => !changed.has(m));
if (missing.length) fail(`no change planned by: ${missing.join(', ')} (planned: ${[...changed].join(', ')})`);
const w = written.split('\n').filter(Boolean);
if (w.length) fail(`--check wrote outside its state dir: ${w.join(', ')}`);
console.log(`${r.tasks.length} tasks planned on arm64: ok=${r.summary.ok} changed=${r.summary.changed} failed=0, ${r.durationMs} ms`);
JS
}

step_arm64() {
  local card="$WORK/arm64-card.img" t0=$SECONDS
  class_image e2e-arm64 10 || return
  local img=$CLASS_IMG
  check "10 arm64 image has no identity" image_has_no_identity "$img"
  if ! burn_with_metis e2e-arm64-1 "$img" "$card" >"$WORK/burn-arm64.log" 2>&1; then
    tail -15 "$WORK/burn-arm64.log"
    result FAIL "10 metis burn arm64 node" "see log above"
    return
  fi
  result PASS "10 metis burn arm64 node"
  if ! arm64_root "$card"; then
    result FAIL "10 arm64 card root (read-only loop + overlay)"
    arm64_cleanup
    return
  fi
  local arch version
  arch=$(arm64_chroot /usr/bin/node -p process.arch 2>&1)
  version=$(arm64_chroot /usr/local/bin/metis-bootstrap --version 2>&1)
  if [[ $arch == arm64 ]]; then result PASS "10 arm64: the image's node is arm64" "$version on $(arm64_chroot /usr/bin/node -v)"; else result FAIL "10 arm64: the image's node is arm64" "$arch"; fi
  # The manifest as the burner wrote it to the card's FAT (the chroot cannot mount vfat; the node would).
  mkdir -p "$ARM_ROOT/boot/firmware/metis"
  mcopy -n -i "$card@@$(fat_offset "$card")" ::/metis/node.yaml "$ARM_ROOT/boot/firmware/metis/node.yaml"
  # The data disks the manifest mounts by UUID: ext4 files with those UUIDs where udev would link them.
  mkdir -p "$ARM_ROOT/dev/disk/by-uuid" "$ARM_ROOT/srv/disks"
  { mkfs.ext4 -q -F -U "$UUID_A" "$ARM_ROOT/srv/disks/a.raw" 16M && mkfs.ext4 -q -F -U "$UUID_B" "$ARM_ROOT/srv/disks/b.raw" 16M; } >/dev/null 2>&1
  ln -sf /srv/disks/a.raw "$ARM_ROOT/dev/disk/by-uuid/$UUID_A" && ln -sf /srv/disks/b.raw "$ARM_ROOT/dev/disk/by-uuid/$UUID_B"
  touch "$WORK/arm64.mark"
  sleep 1
  local rc
  arm64_chroot /usr/local/bin/metis-bootstrap --check --json >"$WORK/arm64-report.json" 2>"$WORK/arm64-check.log"
  rc=$?
  local written
  written=$(cd "$WORK/arm64/upper" && find . -newer "$WORK/arm64.mark" -not -type d | grep -v '^\./var/lib/metis/' | sed 's|^\.||')
  local out
  if out=$(arm64_assert_plan "$WORK/arm64-report.json" "$rc" "$written" 2>&1); then
    result PASS "10 arm64: metis-bootstrap --check in the card's root" "$out, $((SECONDS - t0)) s"
  else
    tail -5 "$WORK/arm64-check.log"
    result FAIL "10 arm64: metis-bootstrap --check in the card's root" "$out"
  fi
  arm64_cleanup
}
