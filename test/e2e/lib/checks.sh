# shellcheck shell=bash
# The e2e's assertions on a booted node, all made from outside the guest (SSH, the namespace, tgtd).

# Files Metis manages on the test node (globs expanded in the guest); their mtimes prove "no rewrite".
MANAGED='/etc/hostname /etc/hosts /etc/motd /etc/fstab /etc/ssh/sshd_config.d/*metis* /etc/systemd/journald.conf.d/*metis*
 /etc/systemd/network/*metis* /etc/rancher/k3s/config.yaml /etc/rancher/node/password /etc/iscsi/initiatorname.iscsi /root/.ssh/authorized_keys'

expect_eq() { [[ $1 == "$2" ]] || { echo "expected '$2', got '$1'"; return 1; }; }
expect_match() { [[ $1 =~ $2 ]] || { echo "'$1' does not match /$2/"; return 1; }; }

c_hostname() { expect_eq "$(gssh "$1" hostname)" "$(node_name "$1")"; }
c_address() {
  local ip
  ip=$(node_ip "$1")
  expect_match "$(gssh "$1" ip -4 -o addr show dev end0)" "inet ${ip//./\\.}/24" &&
    expect_match "$(gssh "$1" ip route show default)" "default via $GW dev end0"
}
c_ping() { ip netns exec "$NS" ping -c 1 -W 2 "$(node_ip "$1")" >/dev/null; }
c_mount() {
  local src
  src=$(gssh "$1" findmnt -n -o UUID --mountpoint "$2")
  expect_eq "$src" "$3"
}
# The root partition ends at the end of the (1 GiB larger) disk and ext4 fills it: more than 1 GiB
# beyond the card image's root partition.
c_growroot() {
  local disk start size fs img_root
  read -r disk start size fs < <(gssh "$1" 'echo $(cat /sys/block/vda/size /sys/block/vda/vda2/start /sys/block/vda/vda2/size) $(df -B1 --output=size / | tail -1)')
  img_root=$(part_bytes "$IMG" 2 | cut -d' ' -f2)
  expect_eq "$((start + size))" "$disk" || return 1
  ((fs > img_root + 900 * 1024 * 1024)) || { echo "root filesystem $fs bytes, card image root partition $img_root bytes"; return 1; }
}
c_iscsid() { expect_eq "$(gssh "$1" systemctl is-active iscsid.service)" active; }
c_initiator() {
  local name
  name=$(gssh "$1" cat /etc/iscsi/initiatorname.iscsi | sed -n 's/^InitiatorName=//p')
  expect_match "$name" '^iqn\.[0-9]{4}-[0-9]{2}\.' && echo "$name" >"$WORK/initiator$1"
}
c_iscsi_login() {
  gssh "$1" "iscsiadm -m discovery -t sendtargets -p $GW:3260 >/dev/null && iscsiadm -m node -T $TARGET_IQN -p $GW:3260 --login >/dev/null &&
    for i in \$(seq 20); do ls /dev/disk/by-path/*iscsi*$TARGET_IQN*lun-1 >/dev/null 2>&1 && break; sleep 0.5; done;
    ls /dev/disk/by-path/ | grep -q 'iscsi-$TARGET_IQN-lun-1' ; rc=\$?; iscsiadm -m node -T $TARGET_IQN -p $GW:3260 --logout >/dev/null; exit \$rc"
}
c_k3s() {
  expect_eq "$(gssh "$1" systemctl is-active k3s-agent.service)" active || return 1
  local cfg args
  cfg=$(gssh "$1" cat /var/lib/k3s-standin/config.yaml)
  args=$(gssh "$1" cat /var/lib/k3s-standin/args)
  expect_match "$args" '^agent' || return 1
  expect_match "$cfg" "server: *\"?https://$GW:6443" || return 1
  expect_match "$cfg" "node-name: *\"?$(node_name "$1")" || return 1
  expect_match "$cfg" "metis.io/e2e=${NODE_LABEL[$1]:-node-$1}" || return 1
  # The token goes by file, never inline in a config the stand-in (or ps) could show.
  [[ $cfg != *"$SECRET_PW"* ]] || { echo "token inline in config.yaml"; return 1; }
}
c_journald() {
  gssh "$1" systemd-analyze cat-config systemd/journald.conf | grep -qx 'SystemMaxUse=64M' &&
    gssh "$1" 'test -d /var/log/journal/$(cat /etc/machine-id)'
}
c_sshd() {
  local t
  t=$(gssh "$1" sshd -T)
  expect_match "$t" $'(^|\n)port 2277(\n|$)' && expect_match "$t" $'(^|\n)passwordauthentication no(\n|$)'
}
c_last_run() {
  gssh "$1" cat /var/lib/metis/last-run.json | node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    if (r.mode !== "apply" || r.summary.failed !== 0) { console.log(JSON.stringify(r.summary), (r.tasks||[]).filter(t=>t.status==="failed").map(t=>t.name+": "+t.reason).join("; ")); process.exit(1); }'
}
# A first boot starts iscsid and k3s after the changes that notify their restart handlers (the
# initiator name in the early phase, k3s's config before the join starts it): neither is restarted.
c_no_restart() {
  gssh "$1" cat /var/lib/metis/last-run.json | node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const h = (r.tasks||[]).filter(t=>t.handler && /^restart (iscsid|k3s)$/.test(t.name));
    const again = h.filter(t=>t.status==="changed");
    if (!h.length || again.length) { console.log(h.length ? "restarted again: "+again.map(t=>t.name).join(", ") : "no restart handler in the report"); process.exit(1); }'
}
# The FAT partition's bytes as they are on the card (O_DIRECT after sync: the block device's page
# cache may still hold pages udev's probes read before the scrub): no token, no node password.
c_fat_scrubbed() {
  gssh "$1" 'sync; dd if=/dev/vda1 bs=1M iflag=direct status=none' >"$WORK/fat$1.bin" || return 1
  local a b
  a=$(grep -c -a -F "$SECRET_PW" "$WORK/fat$1.bin")
  b=$(grep -c -a -F "$NODE_PW" "$WORK/fat$1.bin")
  rm -f "$WORK/fat$1.bin"
  [[ $a == 0 && $b == 0 ]] || { echo "token found $a times, node password $b times in the FAT partition"; return 1; }
}

# The card as a person pulling it would read it: node 1's disk converted on the host after poweroff,
# its FAT partition's bytes searched for the token and the node password.
c_card_scrubbed() {
  local raw="$WORK/card$1.raw" start count a b
  qemu-img convert -O raw "$WORK/node$1.qcow2" "$raw" || return 1
  read -r start count < <(part_bytes "$raw" 1)
  a=$(dd if="$raw" bs=1M iflag=skip_bytes,count_bytes skip="$start" count="$count" status=none | grep -c -a -F "$SECRET_PW")
  b=$(dd if="$raw" bs=1M iflag=skip_bytes,count_bytes skip="$start" count="$count" status=none | grep -c -a -F "$NODE_PW")
  rm -f "$raw"
  [[ $a == 0 && $b == 0 ]] || { echo "token found $a times, node password $b times on the card's FAT partition"; return 1; }
}

# checks_node PREFIX N: what every converged node shows over SSH (step 4 for node 1, step 10 for arm64).
checks_node() {
  local p=$1 n=$2
  check "$p hostname" c_hostname "$n"
  check "$p end0 address + default route" c_address "$n"
  check "$p ping from the namespace" c_ping "$n"
  check "$p root grown to fill the disk" c_growroot "$n"
  check "$p mount /mnt/e2e-a from its UUID" c_mount "$n" /mnt/e2e-a "$UUID_A"
  check "$p mount /mnt/e2e-b from its UUID" c_mount "$n" /mnt/e2e-b "$UUID_B"
  check "$p iscsid active" c_iscsid "$n"
  check "$p initiator name generated" c_initiator "$n"
  check "$p k3s-agent active with expected config" c_k3s "$n"
  check "$p journald drop-in in force" c_journald "$n"
  check "$p sshd drop-in in force" c_sshd "$n"
  check "$p last-run.json: apply, 0 failed" c_last_run "$n"
  check "$p iscsid and k3s not restarted after their first start" c_no_restart "$n"
  check "$p secrets gone from the FAT partition" c_fat_scrubbed "$n"
}

checks_converged() {
  local n=$1
  checks_node 4 "$n"
  check "4 iSCSI login to the tgtd target" c_iscsi_login "$n"
  identity_of "$n" >"$WORK/identity$n"
}

managed_stat() { gssh "$1" "stat -c '%n %Y %s' $MANAGED 2>/dev/null; true"; }

# Runs metis-bootstrap in the guest; prints its --json report, returns its exit code.
bootstrap_json() {
  local n=$1
  shift
  gssh "$n" "metis-bootstrap --json $* 2>/dev/null"
}
# Changed/failed counted over tasks only (the summary also counts handlers the changes notified).
tasks_changed() { node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8")); const t=r.tasks.filter((x)=>!x.handler); console.log(`changed=${t.filter((x)=>x.status==="changed").length} failed=${r.summary.failed}`)'; }
summary_of() { node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(`changed=${r.summary.changed} failed=${r.summary.failed}`)'; }

c_idempotent() {
  local before after out rc
  before=$(managed_stat "$1")
  out=$(bootstrap_json "$1")
  rc=$?
  after=$(managed_stat "$1")
  expect_eq "$rc" 0 || return 1
  expect_eq "$(summary_of <<<"$out")" "changed=0 failed=0" || return 1
  expect_eq "$after" "$before"
}
step_idempotent() { check "5 second run: exit 0, changed=0, no mtimes changed" c_idempotent "$1"; }

# Five managed things changed by hand in the guest, each owned by a different task.
DRIFT='echo drifted-name >/etc/hostname
printf "Port 22\n" >>"$(ls /etc/ssh/sshd_config.d/*metis* | head -1)"
printf "SystemMaxUse=1G\n" >>"$(ls /etc/systemd/journald.conf.d/*metis* | head -1)"
echo "# drift" >>/etc/rancher/k3s/config.yaml
echo "drift" >>/etc/motd'
DRIFT_PATHS='/etc/hostname sshd_config.d journald.conf.d /etc/rancher/k3s/config.yaml /etc/motd'

c_drift_check() {
  local n=$1 out rc before after
  gssh "$n" "$DRIFT" || { echo "could not drift the guest"; return 1; }
  before=$(gssh "$n" "md5sum $MANAGED 2>/dev/null; stat -c '%n %Y' $MANAGED 2>/dev/null; true")
  out=$(bootstrap_json "$n" --check)
  rc=$?
  after=$(gssh "$n" "md5sum $MANAGED 2>/dev/null; stat -c '%n %Y' $MANAGED 2>/dev/null; true")
  expect_eq "$rc" 2 || return 1
  expect_eq "$after" "$before" || { echo "--check changed files"; return 1; }
  DRIFT_PATHS="$DRIFT_PATHS" node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const drifted = r.tasks.filter((t) => !t.handler && t.status !== "ok" && t.status !== "skipped");
    const text = (t) => JSON.stringify([t.name, t.diff ?? [], t.reason ?? ""]);
    const want = process.env.DRIFT_PATHS.split(" ");
    const missing = want.filter((p) => !drifted.some((t) => text(t).includes(p) || (p === "/etc/hostname" && t.module === "hostname")));
    if (drifted.length !== 5 || missing.length) {
      console.log(`drifted tasks ${drifted.length}: ${drifted.map((t) => t.name).join(" | ")}; not reported: ${missing.join(" ")}`);
      process.exit(1);
    }' <<<"$out"
}
c_drift_fix() {
  local out rc
  out=$(bootstrap_json "$1")
  rc=$?
  expect_eq "$rc" 2 || return 1
  expect_eq "$(tasks_changed <<<"$out")" "changed=5 failed=0" || return 1
  out=$(bootstrap_json "$1" --check)
  rc=$?
  expect_eq "$rc" 0
}
step_drift() {
  check "6 drift: --check exit 2, exactly 5, nothing changed" c_drift_check "$1"
  check "6 drift: apply fixes all 5, then --check exit 0" c_drift_fix "$1"
}

c_reboot() {
  local n=$1 codes
  codes=$(gssh "$n" 'for u in metis-bootstrap-early metis-bootstrap; do systemctl show -p ExecMainStatus --value $u.service; done' | tr '\n' ' ')
  expect_eq "$codes" "0 0 " || return 1
  expect_eq "$(gssh "$n" cat /var/lib/metis/last-run.json | summary_of)" "changed=0 failed=0"
}
step_reboot() {
  check "7 reboot: both bootstrap runs exit 0, changed=0" c_reboot "$1"
  check "7 reboot: hostname" c_hostname "$1"
  check "7 reboot: mounts" c_mount "$1" /mnt/e2e-a "$UUID_A"
  check "7 reboot: k3s-agent active" c_k3s "$1"
}

c_second_node() {
  local a b
  a=$(cat "$WORK/identity1" 2>/dev/null)
  b=$(identity_of 2)
  [[ -n $a && -n $b ]] || { echo "identity missing: node1='$a' node2='$b'"; return 1; }
  paste <(tr ' ' '\n' <<<"$a") <(tr ' ' '\n' <<<"$b") | awk '$1==$2 || $1=="" {print "same or empty: " $0; bad=1} END{exit bad}'
}
identity_of() {
  gssh "$1" 'echo $(cat /etc/machine-id) $(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2) $(sed -n "s/^InitiatorName=//p" /etc/iscsi/initiatorname.iscsi)'
}
step_second_node() {
  check "8 node 2 hostname" c_hostname 2
  check "8 node 2: machine-id, host key, initiator all differ from node 1" c_second_node
}
