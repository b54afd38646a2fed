# shellcheck shell=bash
# Step 7e, the Longhorn disk guard on a booted node (docs/mounts.md, issue 17): node 1, converged
# before, boots with data disk B left out of the QEMU command line. k3s must stay down (its unit's
# RequiresMountsFor= drop-in), the mount point on the card's root stays empty, and the report names
# the missing disk. Then disk B is hot-plugged through QMP (blockdev-add + device_add virtio-blk-pci)
# and one converge (`metis-bootstrap` over SSH) mounts it and brings k3s up. Node 1 is powered off at
# the end, as step 7 leaves it; its card then goes on to 7b.

# 7e (boot without disk B, checks, hot-plug, converge, poweroff) measured at 86-111 s (2026-12-02, 2-core machine); about 3x headroom.
E2E_7E_BUDGET_S=${E2E_7E_BUDGET_S:-360}
GUARD_DISK=b
GUARD_KEEP=a # the data disks the guarded boot still gets
GUARD_PATH=/mnt/e2e-b
GUARD_UUID=$UUID_B

# k3s-agent was never started this boot: not active, no main process start time, no restart, the
# start job failed on its dependency (the mount), and the stand-in recorded no start since boot.
c_guard_k3s_down() {
  local n=$1 show
  show=$(gssh "$n" systemctl show -p ActiveState,ExecMainStartTimestampMonotonic,NRestarts k3s-agent.service) || return 1
  grep -qxE 'ActiveState=(inactive|failed)' <<<"$show" && grep -qx 'ExecMainStartTimestampMonotonic=0' <<<"$show" &&
    grep -qx 'NRestarts=0' <<<"$show" || { echo "k3s-agent: $(tr '\n' ' ' <<<"$show")"; return 1; }
  gssh "$n" journalctl -b --no-pager -u k3s-agent.service | grep -q 'Dependency failed' ||
    { echo "no 'Dependency failed' in this boot's k3s-agent journal"; return 1; }
  gssh "$n" 'boot=$(( $(date +%s) - $(cut -d. -f1 /proc/uptime) )); s=$(cat /var/lib/k3s-standin/started); test "$s" -lt "$boot"' ||
    { echo "the k3s stand-in recorded a start this boot"; return 1; }
}

# The data mount point is a plain, empty directory of the card's root; the other disk is mounted.
c_guard_mount_empty() {
  local n=$1 files
  gssh "$n" "test ! -e /dev/disk/by-uuid/$GUARD_UUID" || { echo "disk $GUARD_UUID is visible in the guest"; return 1; }
  expect_eq "$(gssh "$n" "mountpoint -q $GUARD_PATH && echo mounted || echo not-mounted")" not-mounted || return 1
  files=$(gssh "$n" "find $GUARD_PATH -xdev -mindepth 1 | head -5; test -d $GUARD_PATH && echo dir-ok")
  expect_eq "$files" dir-ok || return 1
  c_mount "$n" /mnt/e2e-a "$UUID_A"
}

# report_names_disk: the JSON report on stdin has the mount task failed with a reason naming the
# missing disk's UUID and mount point (and not the present disk), and k3s join not applied.
report_names_disk() {
  GUARD_UUID="$GUARD_UUID" GUARD_PATH="$GUARD_PATH" UUID_A="$UUID_A" node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const { GUARD_UUID: uuid, GUARD_PATH: path, UUID_A: other } = process.env;
    const failed = r.tasks.filter((t) => t.status === "failed");
    const m = failed.find((t) => t.module === "mount");
    const bad = [];
    if (!m) bad.push(`no failed mount task (failed: ${failed.map((t) => t.name).join(", ") || "none"})`);
    else if (!m.reason.includes(`UUID ${uuid}`) || !m.reason.includes(`(for ${path})`) || m.reason.includes(other)) bad.push(`mount reason: ${m.reason}`);
    const join = r.tasks.find((t) => t.module === "k3s_join");
    if (r.mode === "apply" && join && join.status === "changed") bad.push("k3s join was applied");
    if (bad.length) { console.log(bad.join("; ")); process.exit(1); }'
}

# The boot's own converge exited with the failure bit, and last-run.json names the disk; a --check
# run says the same with exit code bit 4 (failed).
c_guard_report() {
  local n=$1 st out rc
  local unit
  unit=$(converge_unit "$n")
  st=$(gssh "$n" systemctl show -p ExecMainStatus --value "$unit")
  [[ $st =~ ^[0-9]+$ ]] && ((st & 4)) || { echo "$unit exit status '$st', expected the failed bit (4)"; return 1; }
  gssh "$n" cat /var/lib/metis/last-run.json | report_names_disk || { echo "(last-run.json)"; return 1; }
  out=$(bootstrap_json "$n" --check)
  rc=$?
  ((rc & 4)) || { echo "--check exit $rc, expected the failed bit (4)"; return 1; }
  report_names_disk <<<"$out" || { echo "(--check --json)"; return 1; }
}

# The operator's view: `metis status` (real kubectl, the Node's MetisConverged condition the node
# reported itself) says Failed and names the disk.
c_guard_status() {
  local out rc
  out=$(metis_op status "$OP_NODE" --kubeconfig "$KUBECONFIG_E2E" --inventory "$OP_INV" 2>&1)
  rc=$?
  expect_eq "$rc" 4 || { echo "$out"; return 1; }
  grep -Eq "^$OP_NODE +True +False +Failed " <<<"$out" && [[ $out == *"UUID $GUARD_UUID (for $GUARD_PATH)"* ]] || { echo "$out"; return 1; }
}

# Disk B comes back by hot-plug (QMP), then one converge: mounted from its UUID, k3s-agent started
# (this boot), the report clean; `metis status` back to Converged.
c_guard_reattach() {
  local n=$1 out rc
  node "$REPO/test/e2e/lib/qmp.mjs" "$WORK/qmp$n.sock" \
    "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"raw\",\"node-name\":\"disk-$GUARD_DISK\",\"file\":{\"driver\":\"file\",\"filename\":\"$WORK/disk-$GUARD_DISK.raw\"}}}" \
    "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\",\"drive\":\"disk-$GUARD_DISK\",\"id\":\"vd-$GUARD_DISK\"}}" || return 1
  gssh "$n" "for i in \$(seq 60); do test -e /dev/disk/by-uuid/$GUARD_UUID && exit 0; sleep 0.5; done; exit 1" ||
    { echo "disk $GUARD_UUID did not appear in the guest within 30 s"; return 1; }
  # What systemd did by itself on the hot-plug (informational: the converge is what must fix it).
  echo "before the converge: $GUARD_PATH $(gssh "$n" mountpoint "$GUARD_PATH" | grep -q 'is a mountpoint' && echo mounted || echo 'not mounted'), k3s-agent $(gssh "$n" systemctl is-active k3s-agent.service)" >>"$WORK/timings"
  out=$(bootstrap_json "$n")
  rc=$?
  expect_eq "$rc" 2 || { echo "converge exit $rc: $(summary_of <<<"$out")"; return 1; }
  expect_eq "$(summary_of <<<"$out" | cut -d' ' -f2)" failed=0 || return 1
  node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8")); const j=r.tasks.find((t)=>t.module==="k3s_join"); if (!j || j.status!=="changed") { console.log("k3s join:", j && j.status); process.exit(1); }' <<<"$out" || return 1
  c_mount "$n" "$GUARD_PATH" "$GUARD_UUID" || return 1
  c_k3s "$n" || return 1
  expect_match "$(gssh "$n" systemctl show -p ExecMainStartTimestampMonotonic --value k3s-agent.service)" '^[1-9][0-9]*$' || return 1
  c_last_run "$n" || return 1
  # The converge reported onto its Node before it exited: one status call, no polling. MANIFEST
  # reads "changed" here, rightly: 7a's capture put the escrow (machine-id, host keys) into what the
  # inventory would burn now, which this card predates.
  out=$(metis_op status "$OP_NODE" --kubeconfig "$KUBECONFIG_E2E" --inventory "$OP_INV" 2>&1)
  grep -Eq "^$OP_NODE +True +True +Converged " <<<"$out" && [[ $out != *Failed* ]] || { echo "$out"; return 1; }
}

step_disk_guard() {
  local n=1 t0=$SECONDS
  [[ -n ${OP:-} ]] || { result NOTRUN "7e disk guard" "operator workstation not set up (6b)"; return 1; }
  if boot_node "$n" "disk-$GUARD_DISK-detached" "$GUARD_KEEP"; then
    check "7e disk $GUARD_DISK detached: k3s-agent never started this boot" c_guard_k3s_down "$n"
    check "7e disk $GUARD_DISK detached: $GUARD_PATH not mounted, empty on the card" c_guard_mount_empty "$n"
    check "7e disk $GUARD_DISK detached: report names it (last-run, --check)" c_guard_report "$n"
    check "7e disk $GUARD_DISK detached: metis status Failed, names it" c_guard_status
    check "7e hot-plug disk $GUARD_DISK (QMP) + converge → mounted, k3s up" c_guard_reattach "$n"
  else
    result NOTRUN "7e disk guard checks" "node 1 without disk $GUARD_DISK did not finish its bootstrap"
  fi
  shutdown_node "$n"
  within_budget 7e "$E2E_7E_BUDGET_S" "$t0" "boot without disk $GUARD_DISK, checks, hot-plug, converge, poweroff"
}
