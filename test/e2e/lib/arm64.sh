# shellcheck shell=bash
# Step 10 of test/e2e/run.sh: the fleet's architecture. Builds the arm64 class image with the real
# `metis image build` (debootstrap under qemu-user; the class's initramfs is MODULES=list), burns it
# for an arm64 node with the real `metis burn`, then:
# - 10 (chroot): the image's own bundle on the image's own arm64 node 18 under qemu-user:
#   `metis-bootstrap --check --json` in a chroot of the burned card's root (an overlay on a read-only
#   loop, so the card's bytes never change). No systemd in a chroot: the bootstrap plans offline.
# - 10 (boot): boots the card under qemu-system-aarch64 -M virt (TCG) with the kernel and initrd read
#   out of the card's own root partition, a virtio disk (a qcow2 overlay 1 GiB larger than the card),
#   two virtio data disks and a virtio NIC that the image's .link file names end0, then checks the
#   first-boot convergence and a no-op second run over SSH as for node 1 (docs/e2e.md#arm64).
# Its own network namespace and subnet (ARM_NS, ARM_NET) and its own k3s server stand-in: it shares
# nothing fixed with node 1's run, so `npm run test:e2e arm64` runs beside one without the lock.
ARM_NS="metis-e2e-arm64-$$"
ARM_TAP="mte2a$$"
ARM_NET=10.213.8
ARM_GW="$ARM_NET.1"
# The arm64 node's key in NODE_IP/NODE_NAME (test/e2e/lib/harness.sh) and in known_hosts$N.
ARM_N=a
ARM_MAC=52:54:00:e2:e0:21
ARM_QEMU=""
declare -a ARM_PIDS=()
ARM_LOOP=""
declare -a ARM_MOUNTS=()
# The class image's build beside steps 2-8 (arm64_prebuild): its subshell, and whether it failed.
ARM_PREBUILD_PID=""
ARM_PREBUILD_FAILED=""

# Step 10's class image is the e2e's longest single job (debootstrap under qemu-user: 460 s cold
# on the 2-core CI machine) and needs nothing the other steps make. In a full run it is built
# beside steps 2-8, at nice 10 so node 1's and node 2's boots keep the CPU they use and the build
# takes what they leave idle; step 10 then finds it in the cache. Collected (its lines printed,
# its result counted) before step 9, whose own debootstrap shares the .deb cache.
arm64_prebuild() {
  (
    renice -n 10 -p "$BASHPID" >/dev/null
    ionice -c2 -n7 -p "$BASHPID" 2>/dev/null
    class_image e2e-arm64 10
  ) >"$WORK/arm64-prebuild.log" 2>&1 &
  ARM_PREBUILD_PID=$!
  log "10 class image e2e-arm64: building beside steps 2-8 (pid $ARM_PREBUILD_PID, nice 10; log $WORK/arm64-prebuild.log)"
}

arm64_prebuild_collect() {
  [[ -n $ARM_PREBUILD_PID ]] || return 0
  local t0=$SECONDS rc detail
  wait "$ARM_PREBUILD_PID"
  rc=$?
  ARM_PREBUILD_PID=""
  detail=$(sed -n 's/^.*PASS: 10 class image[^—]*— //p' "$WORK/arm64-prebuild.log" | tail -1)
  if [[ $rc -eq 0 && -n $detail ]]; then
    result PASS "10 class image e2e-arm64 (built beside 2-8)" "$detail; step 9 waited $((SECONDS - t0)) s for it"
  else
    tail -25 "$WORK/arm64-prebuild.log"
    ARM_PREBUILD_FAILED=1
    result FAIL "10 class image e2e-arm64 (built beside 2-8)" "exit $rc; see log above"
  fi
}

# An unfinished build is stopped the way an operator's Ctrl-C stops it: `metis image build` takes
# SIGTERM, stops its children and undoes its mounts and loop devices (src/image/interrupt.ts).
arm64_prebuild_stop() {
  local p=$ARM_PREBUILD_PID
  [[ -n $p ]] || return 0
  ARM_PREBUILD_PID=""
  pkill -TERM -P "$p" 2>/dev/null
  for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$p" 2>/dev/null && { pkill -KILL -P "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; }
  wait "$p" 2>/dev/null
}

arm64_cleanup() {
  local p
  arm64_prebuild_stop
  # step 10's SSH connection master (it talks to its socket only; the host name is a placeholder).
  [[ -S ${WORK:-/nonexistent}/arm64-ssh.sock ]] && ssh -q -o "ControlPath=$WORK/arm64-ssh.sock" -O exit arm64-node 2>/dev/null
  for p in $ARM_QEMU "${ARM_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in $ARM_QEMU "${ARM_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  ARM_QEMU=""
  ARM_PIDS=()
  ip netns del "$ARM_NS" 2>/dev/null
  arm64_unmount
}

# The chroot's mounts and loop device only.
arm64_unmount() {
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

# The chroot check (see the top): the plan of the node's whole first boot, on arm64 node 18.
arm64_chroot_check() {
  local card=$1 t0=$SECONDS
  if ! arm64_root "$card"; then
    result FAIL "10 arm64 card root (read-only loop + overlay)"
    arm64_unmount
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
  echo "arm64 chroot --check under qemu-user: $((SECONDS - t0)) s" >>"$WORK/timings"
  arm64_unmount
}

# The arm64 node's own network: a namespace with a tap at $ARM_GW, the data disks, a server
# certificate for $ARM_GW from the run's cluster CA (the token pins the CA) and a k3s server
# stand-in (test/fixtures/kube-standin, NOT a kube-apiserver) on $ARM_GW:6443.
arm64_network() {
  make_netns "$ARM_NS" "$ARM_TAP" "$ARM_GW" && make_data_disks arm64- && server_cert "$ARM_GW" arm64- || return 1
  start_kube_standin "$ARM_NS" "$ARM_GW" arm64- "adm$(openssl rand -hex 16)" "$WORK/arm64-kube-state.json"
  local ok=$?
  ARM_PIDS+=("$STANDIN_PID")
  return "$ok"
}

# The test inventory with the arm64 node's subnet: the cluster's server, gateway and DNS are $ARM_GW.
arm64_inventory() { test_inventory "$WORK/inventory-arm64" "$ARM_NET"; }

# The card's own kernel and initrd, read out of its root partition (/boot; the FAT holds the
# firmware side only): what the node boots is what the image carries.
arm64_kernel() {
  local card=$1 at k
  at="$card?offset=$(root_offset "$card")"
  k=$(debugfs -R 'ls /boot' "$at" 2>/dev/null | grep -o 'vmlinuz-[^ ]*' | sort -V | tail -1)
  [[ -n $k ]] || { echo "no /boot/vmlinuz-* in the card's root"; return 1; }
  debugfs -R "dump /boot/$k $WORK/arm64-vmlinuz" "$at" >/dev/null 2>&1 &&
    debugfs -R "dump /boot/initrd.img-${k#vmlinuz-} $WORK/arm64-initrd.img" "$at" >/dev/null 2>&1 &&
    [[ -s $WORK/arm64-vmlinuz && -s $WORK/arm64-initrd.img ]] || { echo "could not read $k and its initrd"; return 1; }
  echo "$k, initrd $(($(stat -c %s "$WORK/arm64-initrd.img") / 1024)) KiB"
}

# Boots the card (first boot) and waits, bounded, until the full bootstrap unit has run to its end.
arm64_boot() {
  local card=$1 ov="$WORK/arm64-node.qcow2" cmdline log="$WORK/arm64-first.console" t0
  qemu-img create -q -f qcow2 -b "$card" -F raw "$ov" "$(($(stat -c %s "$card") + 1024 * 1024 * 1024))" || return 1
  cmdline=$(mtype -i "$card@@$(fat_offset "$card")" ::/cmdline.txt | tr -d '\r\n')
  t0=$(date +%s.%N)
  ip netns exec "$ARM_NS" qemu-system-aarch64 -M virt -cpu cortex-a72 -accel tcg,thread=multi -smp "${E2E_ARM64_SMP:-2}" -m 1024 \
    -nographic -no-reboot -kernel "$WORK/arm64-vmlinuz" -initrd "$WORK/arm64-initrd.img" -append "$cmdline" \
    -drive "file=$ov,format=qcow2,if=virtio" \
    -drive "file=$WORK/arm64-disk-a.raw,format=raw,if=virtio" -drive "file=$WORK/arm64-disk-b.raw,format=raw,if=virtio" \
    -netdev "tap,id=n0,ifname=$ARM_TAP,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=$ARM_MAC" \
    -serial "file:$log" -monitor none -display none </dev/null >/dev/null 2>&1 &
  ARM_QEMU=$!
  log "arm64 node (first boot): qemu-system-aarch64 pid $ARM_QEMU"
  # TCG emulating arm64 on x86: several times the amd64 guest's boot. Bounded: 10 minutes.
  local state=""
  wait_converged "$ARM_N" "$ARM_QEMU" 600 "$log" || return 1
  local conv
  conv=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  echo "arm64 node first boot (qemu-system-aarch64 -M virt, TCG, -smp ${E2E_ARM64_SMP:-2}): power-on → converged seen from host $conv s; kernel start → converged $(awk -v s="$state" 'BEGIN{printf "%.1f", s/1e6}') s" >>"$WORK/timings"
}

# The initrd the node booted is the class's MODULES=list one (lsinitramfs in the guest).
c_arm64_initramfs() {
  local out
  out=$(gssh "$1" 'cat /etc/initramfs-tools/conf.d/metis.conf; echo; lsinitramfs /boot/initrd.img-$(uname -r) | grep -o "[a-z0-9_-]*\.ko" | tr "\n" " "')
  expect_match "$out" $'\nMODULES=list\n' || return 1
  expect_match " $(tail -1 <<<"$out")" ' virtio_blk\.ko ' || { echo "no virtio_blk.ko in the initrd"; return 1; }
  local n
  n=$(tail -1 <<<"$out" | wc -w)
  # MODULES=most packs hundreds of modules; the list and its dependencies a handful.
  ((n > 0 && n < 40)) || { echo "$n modules in the initrd: not the class's list"; return 1; }
}
c_arm64_arch() { expect_eq "$(gssh "$1" uname -m)" aarch64; }

arm64_boot_checks() {
  local card=$1 img=$2 t0=$SECONDS out
  # The node's view of the world: its own namespace and subnet (dynamic scope: gssh and the checks read these).
  local NS=$ARM_NS NET=$ARM_NET GW=$ARM_GW IMG=$img n=$ARM_N
  # One SSH connection for the polls and checks (the master exits 20 s after its last use, when the
  # guest powers off, or at `-O exit` below).
  local -a GSSH_MUX=(-o ControlMaster=auto -o "ControlPath=$WORK/arm64-ssh.sock" -o ControlPersist=20)
  NODE_IP[$n]="$ARM_NET.21"
  NODE_NAME[$n]=e2e-arm64-1
  NODE_LABEL[$n]=arm64-1
  # Not in $(…): the stand-in's and QEMU's PIDs must reach arm64_cleanup.
  if ! arm64_network >"$WORK/arm64-network.log" 2>&1; then
    result FAIL "10 arm64 node network (namespace, disks, k3s stand-in)" "$(tail -c 300 "$WORK/arm64-network.log")"
    return
  fi
  if ! out=$(arm64_kernel "$card"); then result FAIL "10 arm64 kernel + initrd from the card's root" "$out"; return; fi
  result PASS "10 arm64 kernel + initrd from the card's root" "$out"
  if ! arm64_boot "$card"; then
    result FAIL "10 arm64 boot (qemu-system-aarch64 -M virt) converged" "no SSH on ${NODE_IP[$n]}:2277 or bootstrap not finished"
    return
  fi
  result PASS "10 arm64 boot (qemu-system-aarch64 -M virt) converged" "$(tail -1 "$WORK/timings" | sed 's/.*: power-on/power-on/')"
  local t1=$SECONDS
  check "10 arm64 node: uname -m aarch64" c_arm64_arch "$n"
  check "10 arm64 node: initrd is the class's MODULES=list" c_arm64_initramfs "$n"
  checks_node "10 arm64" "$n"
  check "10 arm64 second run: exit 0, changed=0, no mtimes changed" c_idempotent "$n"
  echo "arm64 checks over SSH: $((SECONDS - t1)) s" >>"$WORK/timings"
  gssh "$n" systemctl poweroff >/dev/null 2>&1
  ip netns exec "$NS" ssh -q -o "ControlPath=$WORK/arm64-ssh.sock" -O exit "root@${NODE_IP[$n]}" 2>/dev/null
  for _ in $(seq 60); do kill -0 "$ARM_QEMU" 2>/dev/null || break; sleep 1; done
  echo "arm64 boot + checks + poweroff: $((SECONDS - t0)) s" >>"$WORK/timings"
}

step_arm64() {
  local card="$WORK/arm64-card.img" t0=$SECONDS
  command -v qemu-system-aarch64 >/dev/null || { result FAIL "10 arm64" "missing host tool qemu-system-aarch64 (qemu-system-arm, see .ci/apt-packages)"; return; }
  arm64_prebuild_collect
  [[ -n $ARM_PREBUILD_FAILED ]] && { result NOTRUN "10 arm64 burn and boot" "its class image was not built (above)"; return; }
  class_image e2e-arm64 10 || return
  local img=$CLASS_IMG
  check "10 arm64 image has no identity" image_has_no_identity "$img"
  local inv
  inv=$(arm64_inventory)
  if ! METIS_E2E_NODE_PASSWORD="$NODE_PW" METIS_E2E_TOKEN="$TOKEN" node dist/metis.js burn e2e-arm64-1 --inventory "$inv" --to "$card" --image "$img" \
    --yes --cache "$WORK/metis-cache" >"$WORK/burn-arm64.log" 2>&1; then
    tail -15 "$WORK/burn-arm64.log"
    result FAIL "10 metis burn arm64 node" "see log above"
    return
  fi
  result PASS "10 metis burn arm64 node"
  [[ -n ${E2E_ARM64_CHROOT:-} ]] && arm64_chroot_check "$card"
  arm64_boot_checks "$card" "$img"
  arm64_cleanup
  echo "step 10 arm64 total: $((SECONDS - t0)) s" >>"$WORK/timings"
}
