#!/usr/bin/env bash
# bench/converge: no-op converge time of Metis vs Ansible (`ansible-playbook -c local`, Debian's
# ansible-core) managing the same resources, in the same booted test system (systemd-nspawn --boot of
# the bench class image: bench/converge-class.yaml). Prints medians, the ratio, and — from one
# strace'd run each — processes spawned, files written and daemon-reloads. Not part of CI.
# Resources: the hostname, every file and drop-in Metis manages, 3 services enabled+started, and two
# data mounts — their `# metis` fstab lines and the mounts themselves. The data disks are two small
# ext4 image files with fixed UUIDs, attached with losetup on the host; each loop node is bound into
# the container at /dev/disk/by-uuid/UUID (nspawn has no udev), so Metis's live checks (blkid -p,
# findmnt) and mounts are real. Ansible (builtin modules only; ansible-core has no mount module)
# manages the same fstab lines with lineinfile, the mount points with file, and keeps each mount
# mounted with its mount facts (setup, gather_subset mounts) and a `mount PATH` run only when the
# facts show it is not mounted from its UUID. (No systemd .mount unit: in a container systemd's
# fstab-generator ignores device entries.) Before timing, each tool must remount a mount taken away.
# Needs: root, systemd-nspawn, strace, losetup, mkfs.ext4.
# Usage (root): bash bench/converge.sh [RUNS]
set -uo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
RUNS=${1:-5}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
[[ $(id -u) -eq 0 ]] || { echo "bench/converge: needs root (nspawn, loop devices)"; exit 1; }
for c in strace systemd-nspawn losetup mkfs.ext4; do
  command -v "$c" >/dev/null || { echo "bench/converge: needs $c (apt-get install -y ${c/mkfs.ext4/e2fsprogs})"; exit 1; }
done
IMG="$REPO/.cache/bench/bench-converge.img"
WORK=$(mktemp -d /tmp/metis-bench-converge.XXXXXX)
NS="metis-bench-$$"
VETH="ve-mtb$$"
LOOP=""
NSPAWN=""
# The two data disks: fixed UUIDs, mounted in the guest at these paths.
DISK_UUIDS=(6d657469-7362-4000-8000-000000000001 6d657469-7362-4000-8000-000000000002)
DISK_PATHS=(/mnt/benchdata /mnt/benchlogs)
DISK_LOOPS=()

cleanup() {
  [[ -n $NSPAWN ]] && { kill "$NSPAWN" 2>/dev/null; for _ in $(seq 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done; kill -9 "$NSPAWN" 2>/dev/null; }
  mountpoint -q "$WORK/mnt" 2>/dev/null && umount "$WORK/mnt"
  [[ -n $LOOP ]] && losetup -d "$LOOP" 2>/dev/null
  # The guest's mounts went with its mount namespace; a busy loop still detaches (autoclear) when freed.
  for l in "${DISK_LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The bench class image (Metis payload + ansible-core), built by `metis image build`.
if [[ ! -f $IMG ]]; then
  node scripts/build.mjs >/dev/null || exit 1
  node dist/metis.js image build bench/converge-class.yaml --cache "$REPO/.cache/metis-image" --out "$IMG" || exit 1
fi
# 2. Its root tree, copied out through a read-only loop mount (released right after).
off=$(sfdisk -J "$IMG" | node -e 'const p=JSON.parse(require("fs").readFileSync(0)).partitiontable.partitions[1]; console.log(p.start*512, p.size*512)')
LOOP=$(losetup -f --show -r -o "${off% *}" --sizelimit "${off#* }" "$IMG") || exit 1
mkdir -p "$WORK/mnt" && mount -o ro "$LOOP" "$WORK/mnt" || exit 1
cp -a "$WORK/mnt" "$WORK/root"
umount "$WORK/mnt" && losetup -d "$LOOP" && LOOP=""
ROOT="$WORK/root"
mkdir -p "$ROOT/boot/firmware/metis"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
cat >"$ROOT/boot/firmware/metis/node.yaml" <<EOF
schemaVersion: 1
node: { hostname: bench-node, class: bench-converge, arch: amd64 }
network:
  interface: end0
  renderer: networkd
  ipv4: { address: 10.213.8.11/24, gateway: 10.213.8.1 }
  dns: [10.213.8.1]
ssh:
  port: 2277
  authorizedKeys: [{ user: root, keys: ["$(cat "$WORK/key.pub")"] }]
journald: { storage: persistent, systemMaxUse: 64M }
mounts:
  - { uuid: ${DISK_UUIDS[0]}, path: ${DISK_PATHS[0]}, fstype: ext4, options: [defaults, noatime] }
  - { uuid: ${DISK_UUIDS[1]}, path: ${DISK_PATHS[1]}, fstype: ext4, options: [defaults, noatime] }
EOF

# The data disks: 16 MiB ext4 files with fixed UUIDs on loop devices, each bound into the guest as
# /dev/disk/by-uuid/UUID (a device node, not a symlink: the guest's /dev is nspawn's own tmpfs).
BINDS=()
for i in 0 1; do
  truncate -s 16M "$WORK/disk$i.img"
  mkfs.ext4 -q -F -U "${DISK_UUIDS[$i]}" "$WORK/disk$i.img" || exit 1
  l=$(losetup -f --show "$WORK/disk$i.img") || exit 1
  DISK_LOOPS+=("$l")
  BINDS+=("--bind=$l:/dev/disk/by-uuid/${DISK_UUIDS[$i]}")
done

# 3. Boot it; the host end of its veth goes into our own namespace.
ip netns add "$NS"
systemd-nspawn --register=no --keep-unit -q -D "$ROOT" --boot --network-veth-extra="$VETH:end0" --console=pipe "${BINDS[@]}" \
  </dev/null >"$WORK/console.log" 2>&1 &
NSPAWN=$!
for _ in $(seq 100); do ip link show "$VETH" >/dev/null 2>&1 && break; sleep 0.1; done
ip link set "$VETH" netns "$NS" && ip -n "$NS" addr add 10.213.8.1/24 dev "$VETH" && ip -n "$NS" link set "$VETH" up
LEADER=""
for _ in $(seq 100); do
  LEADER=$(ps -o pid= --ppid "$NSPAWN" | head -1 | tr -d ' ')
  [[ -n $LEADER ]] && break
  sleep 0.1
done
in_guest() { nsenter -t "$LEADER" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
for _ in $(seq 300); do
  st=$(in_guest systemctl show -p ExecMainExitTimestampMonotonic --value metis-bootstrap.service 2>/dev/null)
  [[ -n $st && $st != 0 ]] && break
  sleep 1
done
[[ -n ${st:-} && $st != 0 ]] || { echo "bench: first converge did not finish"; tail -30 "$WORK/console.log"; exit 1; }
in_guest metis-bootstrap >/dev/null 2>&1 # settle: anything the first boot left pending
for i in 0 1; do
  u=$(in_guest findmnt -rn -o UUID --mountpoint "${DISK_PATHS[$i]}")
  [[ $u == "${DISK_UUIDS[$i]}" ]] || { echo "bench: ${DISK_PATHS[$i]} is not mounted from UUID=${DISK_UUIDS[$i]} in the guest"; in_guest sh -c 'grep metis /etc/fstab; findmnt; ls -l /dev/disk/by-uuid'; tail -20 "$WORK/console.log"; exit 1; }
done
FSTAB_LINES=$(in_guest grep '# metis$' /etc/fstab)
[[ $(wc -l <<<"$FSTAB_LINES") -eq 2 ]] || { echo "bench: expected 2 '# metis' fstab lines, got: $FSTAB_LINES"; exit 1; }

# 4. The same resources as an Ansible playbook: every file Metis manages with its content, mode and
# owner as Metis left it, the hostname, the services Metis enables, the exact fstab lines Metis wrote
# (read back from the guest's /etc/fstab), the mount points, and each mount kept mounted: ansible-core
# has no mount module, and systemd 252's fstab-generator ignores device entries in a container, so
# there is no .mount unit to start; Ansible's mount facts decide, and `mount PATH` runs only if needed.
MANAGED=$(in_guest sh -c 'ls -d /etc/hostname /etc/hosts /etc/motd /root/.ssh/authorized_keys /etc/ssh/sshd_config.d/*metis* /etc/systemd/journald.conf.d/*metis* /etc/systemd/network/*metis* 2>/dev/null')
mkdir -p "$ROOT/root/bench/files"
{
  echo "- hosts: localhost"
  echo "  gather_facts: false"
  echo "  tasks:"
  echo "    - ansible.builtin.hostname: { name: bench-node }"
  i=0
  for f in $MANAGED; do
    i=$((i + 1))
    cp -p "$ROOT$f" "$ROOT/root/bench/files/$i"
    read -r mode owner group < <(stat -c '%a %U %G' "$ROOT$f")
    echo "    - ansible.builtin.copy: { src: /root/bench/files/$i, dest: \"$f\", mode: \"0$mode\", owner: $owner, group: $group }"
  done
  for u in ssh.service systemd-networkd.service systemd-journald.service; do
    echo "    - ansible.builtin.systemd: { name: $u, enabled: true, state: started }"
  done
  while IFS= read -r line; do
    echo "    - ansible.builtin.lineinfile: { path: /etc/fstab, line: \"$line\", mode: \"0644\", owner: root, group: root }"
  done <<<"$FSTAB_LINES"
  # Mounted or not, from Ansible's own mount facts: by UUID, or (no udev db in nspawn, so uuid is
  # N/A there) by the /dev/disk/by-uuid/UUID source path; mount only when not mounted.
  echo "    - ansible.builtin.setup: { gather_subset: ['!all', '!min', mounts] }"
  for i in 0 1; do
    p=${DISK_PATHS[$i]} u=${DISK_UUIDS[$i]}
    echo "    - ansible.builtin.file: { path: \"$p\", state: directory, mode: \"0755\" }"
    echo "    - ansible.builtin.command: { argv: [mount, \"$p\"] }"
    echo "      when: ansible_mounts | selectattr('mount', 'equalto', '$p') | selectattr('uuid', 'equalto', '$u') | list | length == 0 and"
    echo "            ansible_mounts | selectattr('mount', 'equalto', '$p') | selectattr('device', 'equalto', '/dev/disk/by-uuid/$u') | list | length == 0"
  done
} >"$ROOT/root/bench/play.yml"
ANSIBLE=(ansible-playbook -c local -i localhost, /root/bench/play.yml)
# Both tools really keep the mounts: unmounted behind their back, each mounts it again.
for tool in ansible metis; do
  in_guest umount "${DISK_PATHS[0]}" || exit 1
  if [[ $tool == ansible ]]; then out=$(in_guest "${ANSIBLE[@]}" 2>&1); else out=$(in_guest metis-bootstrap 2>&1); fi
  [[ $(in_guest findmnt -rn -o UUID --mountpoint "${DISK_PATHS[0]}") == "${DISK_UUIDS[0]}" ]] ||
    { echo "bench: $tool did not mount ${DISK_PATHS[0]} again:"; tail -20 <<<"$out"; exit 1; }
done
out=$(in_guest "${ANSIBLE[@]}" 2>&1)
grep -q 'changed=0.*failed=0' <<<"$out" || { echo "bench: ansible run is not a no-op:"; tail -20 <<<"$out"; exit 1; }
in_guest metis-bootstrap >/dev/null 2>&1
rc=$?
[[ $rc -eq 0 ]] || { echo "bench: metis run is not a no-op (exit $rc)"; exit 1; }

# 5. Time RUNS no-op converges each, interleaved; report medians.
median() { sort -n | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
tm() { local t0 t1; t0=$(date +%s%N); in_guest "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
: >"$WORK/m" && : >"$WORK/a"
for _ in $(seq "$RUNS"); do
  tm metis-bootstrap >>"$WORK/m"
  tm "${ANSIBLE[@]}" >>"$WORK/a"
done
M=$(median <"$WORK/m")
A=$(median <"$WORK/a")

# 6. One traced run each: processes spawned, files opened for writing, daemon-reloads.
counts() {
  strace -f -qq -e trace=execve,openat,rename,renameat,renameat2 -o "$WORK/trace" nsenter -t "$LEADER" -a env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@" >/dev/null 2>&1
  local execs writes reloads
  # Minus nsenter and env, which only start the run.
  execs=$(($(grep -c 'execve(.*= 0$' "$WORK/trace") - 2))
  writes=$(grep -E 'openat\(.*O_(WRONLY|RDWR|CREAT).*= [0-9]+$' "$WORK/trace" | grep -vE '"/(dev|proc|sys)/' | grep -o '"[^"]*"' | sort -u | wc -l)
  reloads=$(grep 'execve(' "$WORK/trace" | grep -c 'daemon-reload')
  grep -E 'openat\(.*O_(WRONLY|RDWR|CREAT).*= [0-9]+$' "$WORK/trace" | grep -vE '"/(dev|proc|sys)/' | grep -o '"[^"]*"' | sort -u >"$WORK/written.$1"
  echo "$execs $writes $reloads"
}
read -r me mw mr < <(counts metis-bootstrap)
read -r ae aw ar < <(counts "${ANSIBLE[@]}")

nf=$(wc -w <<<"$MANAGED") nl=$(wc -l <<<"$FSTAB_LINES")
echo "bench/converge: no-op converge, same $((nf + 1 + 3 + 2 * nl)) resources ($nf files, hostname, 3 services, $nl fstab lines, $nl mounts), $RUNS runs, nspawn-booted Debian 12"
echo "  host load average (1/5/15 min): $LOAD0 before, $(cut -d' ' -f1-3 /proc/loadavg) after; $(nproc) cores"
echo "  files: $(tr '\n' ' ' <<<"$MANAGED")"
printf '  %-10s %8s ms median  %4s processes  %4s files written  %s daemon-reloads\n' metis "$M" "$me" "$mw" "$mr" ansible "$A" "$ae" "$aw" "$ar"
echo "  metis opened for writing: $(tr '\n' ' ' <"$WORK/written.metis-bootstrap")"
echo "  managed files written (incl. /etc/fstab): metis $(grep -cFf <(sed 's/.*/"&"/' <<<"$MANAGED"$'\n'/etc/fstab) "$WORK/written.metis-bootstrap"), ansible $(grep -cFf <(sed 's/.*/"&"/' <<<"$MANAGED"$'\n'/etc/fstab) "$WORK/written.ansible-playbook")"
awk -v m="$M" -v a="$A" 'BEGIN{printf "  ratio metis/ansible = %.3f (target <= 0.100)\n", m/a}'
