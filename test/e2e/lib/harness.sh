# shellcheck shell=bash
# Helpers for test/e2e/run.sh. Names of shared machine resources carry "mte2e" + our PID so
# parallel runs (and other engineers' tests) never collide.
NS="metis-e2e-$$"
TAP="mte2e$$"
NET=10.213.7
GW="$NET.1"
TGT_CTL=$((7000 + $$ % 1000))
TARGET_IQN="iqn.2026-11.test.metis:e2e-lun"
K3S_VERSION="v1.31.5+k3s1"
UUID_A="6d1c0a55-2f0e-4c61-9a7e-0e2e00000a01"
UUID_B="6d1c0a55-2f0e-4c61-9a7e-0e2e00000b02"
declare -a PIDS=() RESULTS=()
declare -A QEMU_PID=()
# A node other than 1-3 (the arm64 node, in its own namespace and subnet) sets its address and names here.
declare -A NODE_IP=() NODE_NAME=() NODE_LABEL=()
node_ip() { echo "${NODE_IP[$1]:-$NET.1$1}"; }
node_name() { echo "${NODE_NAME[$1]:-e2e-node-$1}"; }
FAILED=0
# The operator CLI's V8 code cache would go to root's ~/.cache (src/burner/code-cache.ts): the e2e leaves none.
export METIS_CODE_CACHE=off

log() { printf '[e2e %4ss] %s\n' "$(($(date +%s) - T_START))" "$*"; }

# result PASS|FAIL|NOTRUN NAME DETAIL
result() {
  RESULTS+=("$(printf '%-6s %-44s %s' "$1" "$2" "${3:-}")")
  [[ $1 == PASS ]] || FAILED=1
  log "$1: $2${3:+ — $3}"
}

# check NAME COMMAND...: PASS when the command succeeds.
check() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then result PASS "$name"; else result FAIL "$name" "$(tail -c 400 <<<"$out" | tr '\n' ' ')"; fi
}

summary() {
  echo
  echo "================ Metis e2e summary ($(($(date +%s) - T_START)) s) ================"
  printf '%s\n' "${RESULTS[@]}"
  [[ -f $WORK/timings ]] && cat "$WORK/timings"
  if [[ $FAILED -eq 0 ]]; then echo "e2e: PASS"; else echo "e2e: FAIL (steps above marked FAIL or NOTRUN)"; fi
  exit "$FAILED"
}

cleanup() {
  local p
  # tgtd ignores SIGTERM while it has targets: take the test target down first.
  tgtadm -C "$TGT_CTL" --op delete --mode system --force >/dev/null 2>&1
  for p in "${QEMU_PID[@]}" "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${QEMU_PID[@]}" "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  ip netns del "$NS" 2>/dev/null
  rm -f "/var/run/tgtd/socket.$TGT_CTL" "/var/run/tgtd/socket.$TGT_CTL.lock"
  if [[ -n ${E2E_KEEP:-} ]]; then echo "e2e: kept $WORK"; else rm -rf "$WORK"; fi
}

# ---------- image ----------
# class_image CLASS STEP [BUILD ARGS...]: builds the test class image with the real `metis image
# build`, cached in $CACHE by a hash of its inputs; sets CLASS_IMG to its path (no subshell: results
# must count).
class_image() {
  local cls=$1 step=$2 key img t0=$SECONDS
  shift 2
  key=$( (echo "${E2E_EXTRA_OVERLAY:-} $*"; cat "test/e2e/fixtures/inventory/classes/$cls.yaml" dist/metis-bootstrap.js systemd/* test/fixtures/k3s-standin/k3s src/image/*.ts
    find test/e2e/fixtures/overlay -type f -print0 | sort -z | xargs -0 cat) | sha256sum | cut -c1-16)
  img="$CACHE/$cls-$key.img"
  # Developer knob only (CI never sets it): an extra overlay, e.g. to reach a guest while a module is missing.
  [[ -n ${E2E_EXTRA_OVERLAY:-} ]] && log "WARNING: E2E_EXTRA_OVERLAY=$E2E_EXTRA_OVERLAY is baked into the image; results are not the proof"
  if [[ -f $img && -f $img.sha256 ]]; then
    result PASS "$step class image $cls (cached)" "$(basename "$img")"
  else
    rm -f "$CACHE/$cls"-*
    if node dist/metis.js image build "$cls" --inventory test/e2e/fixtures/inventory --cache "$REPO/.cache/metis-image" --out "$img" \
      --k3s test/fixtures/k3s-standin/k3s --overlay test/e2e/fixtures/overlay ${E2E_EXTRA_OVERLAY:+--overlay "$E2E_EXTRA_OVERLAY"} "$@" >"$WORK/build-$cls.log" 2>&1; then
      result PASS "$step class image build $cls" "$((SECONDS - t0)) s; $(tail -2 "$WORK/build-$cls.log" | head -1)"
      echo "image build $cls: $((SECONDS - t0)) s" >>"$WORK/timings"
    else
      tail -20 "$WORK/build-$cls.log"
      result FAIL "$step class image build $cls" "see log above"
      return 1
    fi
  fi
  CLASS_IMG=$img
}

step_image() {
  class_image e2e-amd64 1 || summary
  IMG=$CLASS_IMG
  [[ -f ${IMG%.img}.vmlinuz && -f ${IMG%.img}.initrd.img ]] || { result FAIL "1 class image has a kernel"; summary; }
  check "1 image has no identity" image_has_no_identity "$IMG"
}

# part_bytes IMG N: offset and size in bytes of partition N (1-based) of a disk image.
part_bytes() { sfdisk -J "$1" | node -e 'const p=JSON.parse(require("fs").readFileSync(0)).partitiontable.partitions[process.argv[1]-1]; console.log(p.start*512, p.size*512)' "$2"; }
root_offset() { part_bytes "$1" 2 | cut -d' ' -f1; }

# The image must carry no identity: checked on the built bytes, before any node touches them.
image_has_no_identity() {
  local mid keys gen at
  at="$1?offset=$(root_offset "$1")"
  mid=$(debugfs -R 'cat /etc/machine-id' "$at" 2>/dev/null)
  keys=$(debugfs -R 'ls /etc/ssh' "$at" 2>/dev/null | grep -o 'ssh_host_[a-z0-9]*_key' | head -1)
  gen=$(debugfs -R 'cat /etc/iscsi/initiatorname.iscsi' "$at" 2>/dev/null)
  [[ -z $mid ]] || { echo "machine-id is set: $mid"; return 1; }
  [[ -z $keys ]] || { echo "host key present: $keys"; return 1; }
  [[ $gen == GenerateName=yes ]] || { echo "initiatorname.iscsi: $gen"; return 1; }
}

# ---------- namespace and services ----------
# make_netns NS TAP GW: a namespace with a tap at GW/24 (node 1's, and the arm64 node's own).
make_netns() {
  ip netns add "$1" && ip -n "$1" link set lo up &&
    ip -n "$1" tuntap add dev "$2" mode tap && ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$1" link set "$2" up
}

# make_data_disks PREFIX: $WORK/PREFIXdisk-{a,b}.raw, ext4 with the manifest's mount UUIDs.
make_data_disks() {
  truncate -s 64M "$WORK/${1}disk-a.raw" "$WORK/${1}disk-b.raw" &&
    mkfs.ext4 -q -F -U "$UUID_A" -L e2e-a "$WORK/${1}disk-a.raw" && mkfs.ext4 -q -F -U "$UUID_B" -L e2e-b "$WORK/${1}disk-b.raw"
}

setup_namespace() { make_netns "$NS" "$TAP" "$GW" || { result FAIL "3 network namespace"; summary; }; }

setup_disks() {
  truncate -s 64M "$WORK/lun.raw" && make_data_disks "" || { result FAIL "3 extra disks"; summary; }
}

setup_iscsi() {
  ip netns exec "$NS" tgtd -f -C "$TGT_CTL" --iscsi "portal=$GW:3260" >"$WORK/tgtd.log" 2>&1 &
  PIDS+=($!)
  local ok=
  for _ in $(seq 50); do
    if tgtadm -C "$TGT_CTL" --lld iscsi --op show --mode target >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  [[ -n $ok ]] &&
    tgtadm -C "$TGT_CTL" --lld iscsi --op new --mode target --tid 1 -T "$TARGET_IQN" &&
    tgtadm -C "$TGT_CTL" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$WORK/lun.raw" &&
    tgtadm -C "$TGT_CTL" --lld iscsi --op bind --mode target --tid 1 -I ALL ||
    { cat "$WORK/tgtd.log"; result FAIL "3 iSCSI target (tgtd)"; summary; }
}

# The cluster CA the join preflight pins (its hash goes into the token); made before the secrets.
make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=k3s-server-ca@e2e" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.crt" >/dev/null 2>&1 &&
    server_cert "$GW" "" || { result FAIL "3 cacerts certificates"; summary; }
}

# server_cert IP PREFIX: $WORK/PREFIXsrv.{key,crt}, the k3s server's certificate for IP from the run's cluster CA.
server_cert() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=k3s" -keyout "$WORK/${2}srv.key" -out "$WORK/${2}srv.csr" >/dev/null 2>&1 &&
    openssl x509 -req -in "$WORK/${2}srv.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
      -extfile <(printf 'subjectAltName=IP:%s\n' "$1") -out "$WORK/${2}srv.crt" >/dev/null 2>&1
}

# start_kube_standin NS IP PREFIX ADMIN_TOKEN STATE_FILE: metis-kube-standin on IP:6443 in NS with
# $WORK/PREFIXsrv.crt; sets STANDIN_PID; returns 0 once /cacerts answers (bounded: 10 s), else 1.
start_kube_standin() {
  local ns=$1 ip=$2 pre=$3
  node -e '
    const [host, dir, pre, token, admin, state] = process.argv.slice(1);
    const cfg = { host, port: 6443, certFile: `${dir}/${pre}srv.crt`, keyFile: `${dir}/${pre}srv.key`, caFile: `${dir}/ca.crt`, caKeyFile: `${dir}/ca.key`,
      tokens: { [admin]: { user: "admin", groups: ["system:masters"] } }, nodeToken: token, stateFile: state };
    require("fs").writeFileSync(`${dir}/${pre}kube-standin.json`, JSON.stringify(cfg), { mode: 0o600 });' "$ip" "$WORK" "$pre" "$TOKEN" "$4" "$5" || return 1
  ip netns exec "$ns" node test/fixtures/kube-standin/server.mjs "$WORK/${pre}kube-standin.json" >"$WORK/${pre}kube-standin.log" 2>&1 &
  STANDIN_PID=$!
  for _ in $(seq 50); do
    ip netns exec "$ns" node -e "require('https').get('https://$ip:6443/cacerts',{ca:require('fs').readFileSync('$WORK/ca.crt')},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))" 2>/dev/null && return 0
    sleep 0.2
  done
  cat "$WORK/${pre}kube-standin.log"
  return 1
}

# The k3s server as agents and operators see it: metis-kube-standin (NOT a kube-apiserver,
# test/fixtures/kube-standin) on $GW:6443 inside the namespace, with the cluster CA: /cacerts for the
# join preflight, the supervisor's node-password rule and kubelet certs for the k3s stand-in's join,
# the Node API for the fleet and replace steps. Needs the token (make_secrets) first.
setup_cacerts() {
  KUBE_ADMIN="adm$(openssl rand -hex 16)"
  KUBECONFIG_E2E="$WORK/kubeconfig"
  KUBE_STATE="$WORK/kube-state.json"
  printf '%s\n' 'apiVersion: v1' 'kind: Config' 'clusters:' '- name: e2e' '  cluster:' "    server: https://$GW:6443" \
    "    certificate-authority: $WORK/ca.crt" 'users:' '- name: admin' '  user:' "    token: $KUBE_ADMIN" 'contexts:' \
    '- name: e2e' '  context: {cluster: e2e, user: admin}' 'current-context: e2e' >"$KUBECONFIG_E2E" && chmod 600 "$KUBECONFIG_E2E" ||
    { result FAIL "3 k3s server stand-in config"; summary; }
  start_kube_standin "$NS" "$GW" "" "$KUBE_ADMIN" "$KUBE_STATE"
  local ok=$?
  PIDS+=("$STANDIN_PID")
  ((ok == 0)) || { result FAIL "3 /cacerts endpoint (k3s server stand-in)"; summary; }
}

make_secrets() {
  ssh-keygen -q -t ed25519 -N '' -C metis-e2e -f "$WORK/id_ed25519"
  local ca_hash
  ca_hash=$(sha256sum "$WORK/ca.crt" | cut -c1-64)
  SECRET_PW="e2e$(openssl rand -hex 12)"
  NODE_PW="np$(openssl rand -hex 12)"
  TOKEN="K10$ca_hash::server:$SECRET_PW"
}

# ---------- burn ----------
fat_offset() { part_bytes "$1" 1 | cut -d' ' -f1; }

# Node 1's card is burned through a flashing host (test/e2e/lib/flasher.sh: sshd in a namespace, the
# card a loop device there); node 2's to a local file: both paths end in a booted node.
burn_node() {
  local n=$1 how=burn_with_metis via=""
  [[ $n == 1 ]] && how=burn_via_flasher via="--host flashing host, card on a loop device: "
  if $how "e2e-node-$n" "$IMG" "$WORK/node$n.img" >"$WORK/burn$n.log" 2>&1; then
    result PASS "2 metis burn node $n" "$via$(grep -m1 -o 'burned .*verified' "$WORK/burn$n.log")"
  else
    tail -15 "$WORK/burn$n.log"
    result FAIL "2 metis burn node $n" "${via}see log above"
    return 1
  fi
  [[ $n == 1 ]] && check "2 no secret in a file on the flashing host" flasher_no_secrets "$WORK/node$n.img"
  return 0
}

# test/e2e/fixtures/inventory holds the test cluster; the run's own SSH key and subnet are filled in.
# test_inventory [DIR NET]: another copy for another subnet (the arm64 node's).
test_inventory() {
  local inv=${1:-$WORK/inventory} net=${2:-$NET}
  if [[ ! -d $inv ]]; then
    cp -r test/e2e/fixtures/inventory "$inv"
    sed -i "s|@PUBKEY@|$(cat "$WORK/id_ed25519.pub")|g; s|@NET@|$net|g" "$inv"/*/*.yaml "$inv"/*.yaml
  fi
  echo "$inv"
}

# burn_with_metis NODE IMAGE OUT: the real `metis burn` to an image file, secrets from the environment.
burn_with_metis() {
  local inv
  inv=$(test_inventory)
  METIS_E2E_NODE_PASSWORD="$NODE_PW" METIS_E2E_TOKEN="$TOKEN" \
    node dist/metis.js burn "$1" --inventory "$inv" --to "$3" --image "$2" --yes --cache "$WORK/metis-cache"
}

# ---------- boot ----------
# GSSH_MUX: extra ssh options a step sets in its scope (step 10 shares one connection: each new SSH
# handshake costs seconds on an emulated arm64 guest).
declare -a GSSH_MUX=()
gssh() {
  local n=$1
  shift
  ip netns exec "$NS" ssh -q -p 2277 -i "$WORK/id_ed25519" -o BatchMode=yes -o ConnectTimeout=4 "${GSSH_MUX[@]}" \
    -o StrictHostKeyChecking=accept-new -o "UserKnownHostsFile=$WORK/known_hosts$n" "root@$(node_ip "$n")" "$@"
}

# boot_node N PHASE [DISKS]: DISKS names the data disks attached (default "a b"; step 7e boots with
# one left out). QMP on $WORK/qmpN.sock serves hot-plug (test/e2e/lib/qmp.mjs).
# within_budget STEP BUDGET_S T0 WHAT: a step's own time since T0 ($SECONDS) into the timings, and a
# result line (CI's whole e2e must stay under 60 min): PASS within the budget, else FAIL.
within_budget() {
  local step=$1 budget=$2 took=$((SECONDS - $3))
  echo "$step: $took s ($4)" >>"$WORK/timings"
  if ((took <= budget)); then result PASS "$step added time within $budget s" "$took s"; else result FAIL "$step added time within $budget s" "$took s"; fi
}

# The unit whose process runs a boot's full converge, as a command for the guest's shell: the boot
# unit when it is the one-process boot run (Type=notify, `metis-bootstrap --boot`), else
# metis-bootstrap.service (units before it, e.g. E2E_BOOT_BEFORE's).
CONVERGE_UNIT='u=metis-bootstrap.service; [ "$(systemctl show -p Type --value metis-bootstrap-early.service)" = notify ] && u=metis-bootstrap-early.service; echo $u'
converge_unit() { gssh "$1" "$CONVERGE_UNIT"; }

# wait_converged N QEMU_PID LIMIT_S CONSOLE: until node N's full bootstrap unit has run to its end
# this boot (converged), at most LIMIT_S seconds; sets the caller's `state` (the unit's exit time,
# monotonic µs). Returns 1, with the console's tail, when QEMU exits or the limit passes.
wait_converged() {
  local n=$1 pid=$2 limit=$3 console=$4 deadline=$((SECONDS + $3))
  state=""
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || { log "qemu of node $n exited early"; tail -30 "$console"; return 1; }
    state=$(gssh "$n" "systemctl show -p ExecMainExitTimestampMonotonic --value \$($CONVERGE_UNIT)" 2>/dev/null)
    [[ -n $state && $state != 0 ]] && return 0
    sleep 2
  done
  log "node $n not converged within $limit s; console tail:"
  tail -40 "$console"
  return 1
}

boot_node() {
  local n=$1 phase=$2 disks=${3:-a b} img="$WORK/node$1.img" ov="$WORK/node$1.qcow2" off cmdline d
  local -a drives=()
  for d in $disks; do drives+=(-drive "file=$WORK/disk-$d.raw,format=raw,if=virtio"); done
  if [[ $phase == first ]]; then
    # Nodes 1 and 3 get a disk 1 GiB larger than the card image, as a bigger SD card would be: the
    # bootstrap grows the root to fill it. Node 2's disk is the image's size (nothing to grow).
    local grow=0
    [[ $n == 2 ]] || grow=$((1024 * 1024 * 1024))
    qemu-img create -q -f qcow2 -b "$img" -F raw "$ov" "$(($(stat -c %s "$img") + grow))" || return 1
  fi
  off=$(fat_offset "$img")
  cmdline=$(mtype -i "$img@@$off" ::/cmdline.txt | tr -d '\r\n')
  local log="$WORK/node$n-$phase.console"
  local t0
  t0=$(date +%s.%N)
  ip netns exec "$NS" qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot \
    -kernel "${IMG%.img}.vmlinuz" -initrd "${IMG%.img}.initrd.img" -append "$cmdline" \
    -drive "file=$ov,format=qcow2,if=virtio" \
    "${drives[@]}" \
    -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=52:54:00:e2:e0:1$n" \
    -serial "file:$log" -monitor none -qmp "unix:$WORK/qmp$n.sock,server=on,wait=off" -display none </dev/null >/dev/null 2>&1 &
  QEMU_PID[$n]=$!
  log "node $n ($phase boot): qemu pid ${QEMU_PID[$n]}"
  # Bounded: 5 minutes (TCG boot ≈ 40 s).
  local state=""
  if ! wait_converged "$n" "${QEMU_PID[$n]}" 300 "$log"; then
    result FAIL "3 boot node $n ($phase)" "no SSH on $NET.1$n:2277 or bootstrap not finished"
    return 1
  fi
  local t1 share waited
  t1=$(date +%s.%N)
  # The bootstrap's own share: each unit's start → exit this boot, less the boot run's wait for
  # metis-online.target (network online, data mounts settled: systemd's time, which the old full
  # unit spent before it started).
  # Only a report written this boot (an older bootstrap, e.g. E2E_BOOT_BEFORE's, writes none with a wait).
  waited=$(gssh "$n" 'f=/var/lib/metis/last-run.json; b=$(( $(date +%s) - $(cut -d. -f1 /proc/uptime) )); [ "$(stat -c %Y $f)" -ge "$b" ] && cat $f' 2>/dev/null | grep -o '"waitedMs": *[0-9]*' | tail -1 | grep -o '[0-9]*$')
  # A first boot's SSH host keys are made beside the boot (metis-ssh-hostkeys.service, ordered
  # before metis-online.target): whatever of it outlasts network-online.target held the wait up, and
  # counts as the bootstrap's own.
  local keys hold
  keys=$(gssh "$n" 'systemctl show -p ExecMainStartTimestampMonotonic,ExecMainExitTimestampMonotonic --value metis-ssh-hostkeys.service; systemctl show -p ActiveEnterTimestampMonotonic --value network-online.target' | tr '\n' ' ')
  hold=$(awk -v k="$keys" 'BEGIN{split(k, a, " "); h=(a[1] > 0 && a[2] > a[3]) ? (a[2] - a[3]) / 1e6 : 0; printf "%.1f", h}')
  share=$(gssh "$n" 'for u in metis-bootstrap-early metis-bootstrap; do systemctl show -p ExecMainStartTimestampMonotonic,ExecMainExitTimestampMonotonic --value $u.service; done' |
    awk -v w="${waited:-0}" -v h="$hold" 'NR%2==1{s=$1} NR%2==0{t+=($1-s)} END{printf "%.1f", t/1e6 - w/1e3 + h}')
  local keys_line=""
  if [[ $keys =~ ^[1-9] ]]; then
    keys_line="  SSH host keys beside the boot (metis-ssh-hostkeys): $(awk -v k="$keys" 'BEGIN{split(k, a, " "); printf "%.1f s, ended %.1f s %s network-online.target", (a[2] - a[1]) / 1e6, (a[2] > a[3] ? a[2] - a[3] : a[3] - a[2]) / 1e6, (a[2] > a[3] ? "after" : "before")}') (counted in the share: $hold s)"
  fi
  local k_conv
  k_conv=$(awk -v s="$state" 'BEGIN{printf "%.1f", s/1e6}')
  echo "node $n $phase boot: power-on → converged seen from host $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s; kernel start → converged $k_conv s; bootstrap's own share $share s$([[ -n $waited ]] && awk -v w="$waited" 'BEGIN{printf " (its wait for metis-online.target, %.1f s, not counted)", w/1e3}')" >>"$WORK/timings"
  [[ -z $keys_line ]] || echo "$keys_line" >>"$WORK/timings"
  # With a data disk left out the bootstrap runs to its end but cannot converge (step 7e judges it).
  local done=converged
  [[ $disks == "a b" ]] || done="bootstrap finished (disks: $disks)"
  result PASS "3 boot node $n ($phase) $done" "$(grep "^node $n $phase boot:" "$WORK/timings" | tail -1 | cut -d: -f2-)"
  # Where the bootstrap's time went this boot: the slowest tasks of its two runs (early + full).
  gssh "$n" 'cat $(ls -t /var/lib/metis/runs/*.json | head -2)' 2>/dev/null | node -e '
    const text = require("fs").readFileSync(0, "utf8");
    const tasks = [];
    for (const doc of text.split(/\n(?=\{)/)) { try { const r = JSON.parse(doc); for (const t of r.tasks || []) tasks.push(t); } catch {} }
    tasks.sort((a, b) => b.durationMs - a.durationMs);
    console.log("  slowest tasks: " + tasks.slice(0, 4).map((t) => `${t.name} ${(t.durationMs / 1000).toFixed(1)} s`).join("; "));' >>"$WORK/timings" 2>/dev/null
  # Per bootstrap run: runtime start + bundle load, phases, spawns, exit (test/e2e/lib/boot-timings.mjs);
  # the critical chain and blame are kept beside the console log (E2E_KEEP=1 keeps them).
  gssh "$n" 'journalctl -b -o json --no-pager -u metis-bootstrap-early.service -u metis-bootstrap.service
    for u in metis-bootstrap-early.service metis-bootstrap.service; do
      echo "{\"METIS_UNIT_EXIT\":\"$u\",\"__MONOTONIC_TIMESTAMP\":\"$(systemctl show -p ExecMainExitTimestampMonotonic --value $u)\"}"
    done' 2>/dev/null |
    node test/e2e/lib/boot-timings.mjs >>"$WORK/timings" 2>/dev/null
  gssh "$n" "systemd-analyze critical-chain metis-online.target \$($CONVERGE_UNIT); systemd-analyze blame | head -25" >"$WORK/node$n-$phase.analyze" 2>&1
  grep -E '^(metis-bootstrap|metis-online|network-online)|metis-bootstrap.service|network-online.target' "$WORK/node$n-$phase.analyze" | head -4 | sed 's/^[^a-z0-9]*/  chain: /' >>"$WORK/timings"
}

# E2E_BOOT_BEFORE=REF (e.g. main): after step 7, one more no-op reboot of node 1 with the bootstrap
# bundle and units built from git REF, so the timings carry a "before" and an "after" no-op reboot
# measured in the same run, on the same node, under the same machine load. Measurement only: it adds
# a result line, and restores this tree's bundle and units afterwards.
boot_before() {
  local n=$1 ref=${E2E_BOOT_BEFORE:-} src="$WORK/before-src"
  [[ -n $ref ]] || return 0
  rm -rf "$src" && mkdir -p "$src"
  if ! git archive "$ref" package.json scripts src tasks templates systemd | tar -x -C "$src" ||
    ! ln -s "$REPO/node_modules" "$src/node_modules" || ! (cd "$src" && node scripts/build.mjs >/dev/null); then
    result FAIL "7c reboot with $ref's bootstrap (before)" "could not build $ref's bundle"
    return 1
  fi
  echo "before = $ref ($(git rev-parse --short "$ref")), no-op reboot in this same run:" >>"$WORK/timings"
  local u
  gssh "$n" 'cat >/usr/local/bin/metis-bootstrap' <"$src/dist/metis-bootstrap.js" &&
    for u in "$src"/systemd/*.service "$src"/systemd/*.timer "$src"/systemd/*.target; do [[ -e $u ]] || continue; gssh "$n" "cat >/etc/systemd/system/$(basename "$u")" <"$u" || return 1; done &&
    gssh "$n" "systemctl daemon-reload && systemctl reenable $BOOT_UNITS && rm -rf /var/cache/metis" || { result FAIL "7c reboot with $ref's bootstrap (before)" "could not install it"; return 1; }
  # One converge by REF's bundle first, through REF's own unit: where the two versions write a
  # managed file differently (an fstab option), the measured reboot is then a no-op for REF too, and
  # a REF that keeps a code cache (CacheDirectory=) has made it, as this tree's had at its reboot.
  gssh "$n" 'systemctl start metis-bootstrap.service >/dev/null 2>&1'
  shutdown_node "$n"
  if boot_node "$n" "reboot-before-$ref"; then
    check "7c reboot with $ref's bootstrap: both runs exit 0, changed=0" c_reboot "$n"
  fi
  gssh "$n" 'cat >/usr/local/bin/metis-bootstrap' <dist/metis-bootstrap.js
  for u in systemd/*.service systemd/*.timer systemd/*.target; do gssh "$n" "cat >/etc/systemd/system/$(basename "$u")" <"$u"; done
  for u in metis-bootstrap-start metis-bootstrap-snapshot.js; do gssh "$n" "cat >/usr/local/lib/metis/$u" <"systemd/$u"; done
  gssh "$n" "systemctl daemon-reload && systemctl reenable $BOOT_UNITS && metis-bootstrap >/dev/null 2>&1"
}
# Re-enabled when units are swapped: which of them runs at boot is their [Install] section's say.
BOOT_UNITS='metis-bootstrap-early.service metis-bootstrap.service metis-bootstrap.timer'

shutdown_node() {
  local n=$1 p=${QEMU_PID[$1]:-}
  [[ -n $p ]] || return 0
  gssh "$n" systemctl poweroff >/dev/null 2>&1
  for _ in $(seq 120); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
  kill "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  unset "QEMU_PID[$n]"
}
