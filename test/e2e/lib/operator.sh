# shellcheck shell=bash
# The operator's side of the e2e (docs/fleet.md, docs/replace.md): the real `metis` CLI against the
# booted node 1 as an operator runs it — over the system `ssh` with strict host-key checking, and
# with the real `kubectl` against the k3s server stand-in (metis-kube-standin, setup_cacerts) —
# from inside the test namespace, where the guest and the stand-in are reachable.
#   6b `metis check`, 6c `metis push` (a label and a journald limit), 6d `metis status`,
#   7a `metis replace` without escrow (the plan says the Node goes; not confirmed → nothing burned),
#      `metis identity capture` (sealed with age into the inventory's escrow),
#   7b node 1's disk thrown away → `metis replace --to FILE` → boot → `metis wait` (host key proven
#      against the escrow) → the same machine-id, host key, initiator name and node password, and
#      the server stand-in accepted the rejoin under the old node-password secret,
#   7d the second case: the escrow gone → `metis replace --to FILE --yes` warns of a NEW identity,
#      burns, then DELETES the Node and its node-password secret → boot → `metis wait` (no escrow: the
#      new host key trusted on first use, shown, the operator's known_hosts untouched) → machine-id,
#      host key, initiator and node password all new, and the server stand-in took the new password.

OP_NODE=e2e-node-1
# 7d (replace, TCG boot to converged, wait, checks, poweroff) measured at 131 s (2026-12-02, 2-core machine, another e2e beside it); about 3x headroom.
E2E_7D_BUDGET_S=${E2E_7D_BUDGET_S:-420}

# The operator's workstation: its own HOME, an ssh_config naming the run's key and a known_hosts
# filled from the guest (StrictHostKeyChecking yes), an age key whose recipient cluster.yaml seals to.
operator_setup() {
  local n=$1 pub
  OP="$WORK/operator"
  OP_INV=$(test_inventory)
  mkdir -p "$OP/state" && chmod 700 "$OP" || return 1
  printf '%s\n' "Host *" "  User root" "  IdentityFile $WORK/id_ed25519" "  IdentitiesOnly yes" \
    "  UserKnownHostsFile $OP/known_hosts" "  GlobalKnownHostsFile /dev/null" "  StrictHostKeyChecking yes" >"$OP/ssh_config"
  # The harness's own channel already pinned this key at first contact; the operator trusts the same.
  pub=$(gssh "$n" cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f1,2)
  [[ $pub == ssh-ed25519\ * ]] || { echo "no host key read from node $n"; return 1; }
  echo "[$NET.1$n]:2277 $pub" >"$OP/known_hosts"
  age-keygen -o "$OP/age-key.txt" 2>/dev/null || return 1
  grep -q '^identity:' "$OP_INV/cluster.yaml" ||
    printf 'identity:\n  recipients: ["%s"]\n' "$(age-keygen -y "$OP/age-key.txt")" >>"$OP_INV/cluster.yaml"
}

# metis_op ARGS...: `metis` as the operator runs it; secrets reach it by environment, never argv.
metis_op() {
  (
    export HOME="$OP" XDG_STATE_HOME="$OP/state" XDG_CONFIG_HOME="$OP/config" METIS_SSH_CONFIG="$OP/ssh_config" \
      SOPS_AGE_KEY_FILE="$OP/age-key.txt" METIS_E2E_TOKEN="$TOKEN" METIS_E2E_NODE_PASSWORD="$NODE_PW"
    ip netns exec "$NS" node "$REPO/dist/metis.js" "$@"
  )
}
kubectl_op() { ip netns exec "$NS" kubectl --kubeconfig "$KUBECONFIG_E2E" --request-timeout=10s "$@"; }
node_json() { kubectl_op get --raw "/api/v1/nodes/$OP_NODE"; }
# A field of node 1's Node object: node_field 'n.metadata.labels["x"]'
node_field() { node_json | node -e "const n=JSON.parse(require('fs').readFileSync(0,'utf8')); console.log($1 ?? '')"; }
# standin_events [FROM]: the server stand-in's join events for node 1 (from log entry FROM on).
standin_events() { node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); for (const l of s.log.slice(Number(process.argv[3]))) if (l.node===process.argv[2] && l.event!=="request" && l.event!=="node-patched") console.log(l.event)' "$KUBE_STATE" "$OP_NODE" "${1:-0}"; }
standin_log_length() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).log.length)' "$KUBE_STATE"; }
# standin_join_code PASSWORD: the HTTP status the server stand-in's supervisor path gives a join of
# node 1's name with PASSWORD (token and password reach node by environment, never argv).
standin_join_code() {
  (export K3S_TOKEN="$TOKEN" JOIN_PW="$1" && ip netns exec "$NS" node -e '
    const [url, ca, name] = process.argv.slice(1);
    const auth = "Basic " + Buffer.from("node:" + process.env.K3S_TOKEN).toString("base64");
    require("https").get(url, { ca: require("fs").readFileSync(ca), headers: { authorization: auth, "k3s-Node-Name": name, "k3s-Node-Password": process.env.JOIN_PW } },
      (r) => { console.log(r.statusCode); r.resume(); }).on("error", (e) => console.log(e.message));' "https://$GW:6443/v1-k3s/serving-kubelet.crt" "$WORK/ca.crt" "$OP_NODE")
}

# ---------- 6b-6d: the fleet commands against the converged node ----------
c_op_joined() {
  expect_match "$(gssh 1 cat /var/lib/k3s-standin/join)" "^joined $OP_NODE\$" || return 1
  gssh 1 test -s /var/lib/rancher/k3s/agent/kubelet.kubeconfig || { echo "no kubelet kubeconfig on the node"; return 1; }
  expect_eq "$(node_field 'n.status.conditions.find((c)=>c.type==="Ready").status')" True
}
c_op_check() {
  local out rc
  out=$(metis_op check "$OP_NODE" --timeout 300 --inventory "$OP_INV" 2>&1)
  rc=$?
  expect_eq "$rc" 0 || { echo "$out" | tail -5; return 1; }
  expect_match "$out" "$OP_NODE : ok=[1-9][0-9]* +changed=0 +unreachable=0 +failed=0"
}
# A label on the node and the class's journald limit, changed in the inventory: push --check shows
# both and writes nothing; push writes the card's manifest, converges, and the node carries both.
c_op_push() {
  local out rc i label
  sed -i 's|^labels:$|labels:\n  metis.io/pool: fast|' "$OP_INV/nodes/$OP_NODE.yaml"
  sed -i 's|systemMaxUse: 64M|systemMaxUse: 96M|' "$OP_INV/classes/e2e-amd64.yaml"
  grep -q 'metis.io/pool: fast' "$OP_INV/nodes/$OP_NODE.yaml" && grep -q 'systemMaxUse: 96M' "$OP_INV/classes/e2e-amd64.yaml" ||
    { echo "could not edit the inventory copy"; return 1; }
  out=$(metis_op push "$OP_NODE" --check --timeout 300 --inventory "$OP_INV" 2>&1)
  rc=$?
  expect_eq "$rc" 2 || { echo "push --check: $(tail -5 <<<"$out")"; return 1; }
  expect_match "$out" '\+    metis.io/pool: fast' && expect_match "$out" '\+  systemMaxUse: 96M' || return 1
  gssh 1 systemd-analyze cat-config systemd/journald.conf | grep -qx 'SystemMaxUse=64M' || { echo "push --check changed the node"; return 1; }
  out=$(metis_op push "$OP_NODE" --timeout 300 --inventory "$OP_INV" 2>&1)
  rc=$?
  expect_eq "$rc" 2 || { echo "push: $(tail -8 <<<"$out")"; return 1; }
  expect_match "$out" "--- $OP_NODE: node.yaml \\(written\\)" || return 1
  expect_match "$out" "$OP_NODE : ok=[0-9]+ +changed=[1-9]" || return 1
  [[ $out != *"$TOKEN"* && $out != *"$NODE_PW"* ]] || { echo "a secret in push's output"; return 1; }
  # Judged on the node: the journald drop-in in force, the k3s config with the label.
  gssh 1 systemd-analyze cat-config systemd/journald.conf | grep -qx 'SystemMaxUse=96M' || { echo "journald: $(gssh 1 cat '/etc/systemd/journald.conf.d/*metis*')"; return 1; }
  expect_match "$(gssh 1 cat /etc/rancher/k3s/config.yaml)" 'metis.io/pool=fast' || return 1
  # ...and on the Node: the restarted agent registers its labels with the server (bounded wait).
  for i in $(seq 30); do
    label=$(node_field 'n.metadata.labels["metis.io/pool"]')
    [[ $label == fast ]] && break
    sleep 2
  done
  expect_eq "$label" fast
}
c_op_status() {
  local out rc
  out=$(metis_op status "$OP_NODE" --kubeconfig "$KUBECONFIG_E2E" --inventory "$OP_INV" 2>&1)
  rc=$?
  expect_eq "$rc" 0 || { echo "$out"; return 1; }
  grep -Eq "^$OP_NODE +True +True +Converged .* current\$" <<<"$out" || { echo "$out"; return 1; }
}
step_fleet() {
  if ! operator_setup 1 >"$WORK/operator-setup.log" 2>&1; then
    result FAIL "6b operator workstation" "$(tail -c 300 "$WORK/operator-setup.log")"
    return 1
  fi
  check "6b node 1 joined the k3s server stand-in (Node Ready)" c_op_joined
  check "6b fleet: metis check → converged, exit 0" c_op_check
  check "6c fleet: metis push (label, journald limit) → on node + Node" c_op_push
  check "6d fleet: metis status → Ready, Converged, current" c_op_status
}

# ---------- 7a: before node 1's final poweroff ----------
# Without escrow, replace says the identity will be new and the Node must go; unconfirmed, nothing
# is burned and the Node stays.
c_op_replace_no_escrow() {
  local out rc
  out=$(metis_op replace "$OP_NODE" --to "$OP/noescrow.img" --image "$IMG" --cache "$WORK/metis-cache" --force \
    --kubeconfig "$KUBECONFIG_E2E" --inventory "$OP_INV" </dev/null 2>&1)
  rc=$?
  expect_eq "$rc" 5 || { echo "$out" | tail -5; return 1; }
  expect_match "$out" "$OP_NODE: no identity escrow" && expect_match "$out" "DELETE Node $OP_NODE" || return 1
  [[ ! -e $OP/noescrow.img ]] || { echo "a card was written"; return 1; }
  expect_eq "$(node_field 'n.metadata.name')" "$OP_NODE"
}
c_op_capture() {
  local out rc mid esc="$OP_INV/identity/$OP_NODE.age"
  mid=$(gssh 1 cat /etc/machine-id)
  expect_match "$mid" '^[0-9a-f]{32}$' || return 1
  out=$(metis_op identity capture "$OP_NODE" --inventory "$OP_INV" 2>&1)
  rc=$?
  expect_eq "$rc" 0 || { echo "$out"; return 1; }
  expect_match "$out" "$OP_NODE: captured" || return 1
  expect_eq "$(stat -c %a "$esc")" 600 || return 1
  # The real age CLI opens it with the operator's key; the machine-id in it is the node's.
  age -d -i "$OP/age-key.txt" "$esc" | grep -qF "$mid" || { echo "age -d: escrow does not hold the node's machine-id"; return 1; }
  [[ $out != *"$NODE_PW"* ]] || { echo "the node password in capture's output"; return 1; }
  gssh 1 sha256sum /etc/rancher/node/password | cut -c1-64 >"$OP/node-password.sha256"
  node_field 'n.metadata.creationTimestamp' >"$OP/node-created"
}
step_capture() {
  [[ -n ${OP:-} ]] || { result NOTRUN "7a replace/capture" "operator workstation not set up (6b)"; return 1; }
  check "7a replace without escrow: new identity, Node to delete, unconfirmed → nothing" c_op_replace_no_escrow
  check "7a metis identity capture (age-sealed escrow)" c_op_capture
}

# ---------- 7b: node 1's card dies; a new one from the escrow ----------
c_op_replace() {
  local out rc
  # What the node lifecycle controller does when a kubelet falls silent: Ready Unknown.
  kubectl_op patch node "$OP_NODE" --subresource=status \
    -p '{"status":{"conditions":[{"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown","message":"Kubelet stopped posting node status."}]}}' >/dev/null || return 1
  # The escrow alone carries the identity now: the node file no longer names a node password
  # (its k3s: block held only that).
  sed -i '/^k3s:$/d; /nodePassword:/d' "$OP_INV/nodes/$OP_NODE.yaml"
  standin_log_length >"$OP/log-mark" || return 1
  op_replace replace1.log
  expect_eq "$rc" 0 || { tail -8 <<<"$out"; return 1; }
  expect_match "$out" "keep Node $OP_NODE: it rejoins with its escrowed identity" || return 1
  expect_match "$out" "Next, on site: insert the card into $OP_NODE and power it on\\." || return 1
  [[ $out != *"$NODE_PW"* && $out != *"$TOKEN"* ]] || { echo "a secret in replace's output"; return 1; }
  [[ -s $WORK/node1.img ]] || { echo "no card written"; return 1; }
}
c_op_wait() {
  local out rc
  out=$(metis_op wait "$OP_NODE" --timeout 5m --interval 3s --kubeconfig "$KUBECONFIG_E2E" --inventory "$OP_INV" 2>&1)
  rc=$?
  echo "$out" >"$WORK/wait1.log"
  expect_eq "$rc" 0 || { tail -12 <<<"$out"; return 1; }
  expect_match "$out" "$OP_NODE is back as itself \\(host key = escrowed key\\)"
}
c_op_same_identity() {
  local before after pw
  before=$(cat "$WORK/identity1" 2>/dev/null)
  after=$(identity_of 1)
  [[ -n $before ]] || { echo "node 1's first identity was not recorded (step 4)"; return 1; }
  expect_eq "$after" "$before" || return 1
  pw=$(gssh 1 sha256sum /etc/rancher/node/password | cut -c1-64)
  expect_match "$pw" '^[0-9a-f]{64}$' || return 1
  expect_eq "$pw" "$(cat "$OP/node-password.sha256")"
}
# The server stand-in enforces k3s's node-password rule: it accepted the new card under the old
# secret (rejoined, never deleted, the same Node object), and refuses another password for the name.
c_op_rejoin_accepted() {
  local ev code
  ev=$(standin_events "$(cat "$OP/log-mark")" | tr '\n' ' ')
  expect_match "$(gssh 1 cat /var/lib/k3s-standin/join)" "^joined $OP_NODE\$" || return 1
  [[ $ev == *node-rejoined* && $ev != *node-password-rejected* ]] || { echo "stand-in events for $OP_NODE since the replace: $ev"; return 1; }
  [[ $(standin_events | tr '\n' ' ') != *node-deleted* ]] || { echo "the Node was deleted"; return 1; }
  expect_match "$(cat "$OP/node-created")" '^[0-9]{4}-' || return 1
  expect_eq "$(node_field 'n.metadata.creationTimestamp')" "$(cat "$OP/node-created")" || return 1
  expect_eq "$(standin_join_code "not-$(openssl rand -hex 8)")" 403
}
# op_replace LOG: `metis replace` of node 1 onto a fresh card file (--yes), as the operator runs it;
# sets the caller's `out` and `rc`, keeps the output in $WORK/LOG.
op_replace() {
  rm -f "$WORK/node1.qcow2" "$WORK/node1.img"
  out=$(metis_op replace "$OP_NODE" --to "$WORK/node1.img" --image "$IMG" --cache "$WORK/metis-cache" --yes \
    --kubeconfig "$KUBECONFIG_E2E" --inventory "$OP_INV" 2>&1)
  rc=$?
  echo "$out" >"$WORK/$1"
}

step_replace() {
  [[ -f ${OP:-/nonexistent}/node-password.sha256 ]] || { result NOTRUN "7b replace from escrow" "no capture (7a)"; return 1; }
  check "7b metis replace --to FILE (escrow, Node kept)" c_op_replace
  [[ -s $WORK/node1.img ]] || { result NOTRUN "7b boot the new card, metis wait" "no card from replace"; return 1; }
  # The new card in a bigger disk, as for the first boot (boot_node makes that overlay only for "first").
  local grow=$((1024 * 1024 * 1024))
  qemu-img create -q -f qcow2 -b "$WORK/node1.img" -F raw "$WORK/node1.qcow2" "$(($(stat -c %s "$WORK/node1.img") + grow))" ||
    { result FAIL "7b overlay for the new card"; return 1; }
  if boot_node 1 replaced; then
    check "7b metis wait: strict host key = escrowed key" c_op_wait
    check "7b machine-id, host key, initiator, node password = node 1's" c_op_same_identity
    check "7b server stand-in: rejoin accepted, other password refused" c_op_rejoin_accepted
  else
    result NOTRUN "7b metis wait" "the replaced node 1 did not come up"
  fi
  shutdown_node 1
}

# ---------- 7d: node 1's card dies again, and this time there is no escrow ----------
# The second case of docs/replace.md: a NEW identity. The Node (and with it k3s's node-password
# secret) must go, or the new password is refused under the name.
c_op_replace_new() {
  local out rc
  kubectl_op patch node "$OP_NODE" --subresource=status \
    -p '{"status":{"conditions":[{"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown","message":"Kubelet stopped posting node status."}]}}' >/dev/null || return 1
  mv "$OP_INV/identity/$OP_NODE.age" "$OP/escrow-7b.age" || return 1
  cp "$OP/known_hosts" "$OP/known_hosts.7d" && standin_log_length >"$OP/log-mark-7d" || return 1
  node_field 'n.metadata.creationTimestamp' >"$OP/node-created-7d"
  op_replace replace1-new.log
  expect_eq "$rc" 0 || { tail -8 <<<"$out"; return 1; }
  expect_match "$out" "$OP_NODE: no identity escrow .*the card gets a NEW identity" || return 1
  expect_match "$out" "then DELETE Node $OP_NODE from the cluster" || return 1
  expect_match "$out" "deleted Node $OP_NODE \\(and its node-password secret\\)" || return 1
  expect_match "$out" "Next, on site: insert the card into $OP_NODE and power it on\\." || return 1
  [[ $out != *"$NODE_PW"* && $out != *"$TOKEN"* ]] || { echo "a secret in replace's output"; return 1; }
  [[ -s $WORK/node1.img ]] || { echo "no card written"; return 1; }
  # Deleted on the API, before the new card boots: no Node, no node-password secret.
  ! kubectl_op get --raw "/api/v1/nodes/$OP_NODE" >/dev/null 2>&1 || { echo "Node $OP_NODE still there"; return 1; }
  ! kubectl_op get --raw "/api/v1/namespaces/kube-system/secrets/$OP_NODE.node-password.k3s" >/dev/null 2>&1 || { echo "node-password secret still there"; return 1; }
  [[ $(standin_events "$(cat "$OP/log-mark-7d")" | tr '\n' ' ') == *node-deleted* ]] || { echo "the stand-in logged no node-deleted"; return 1; }
}
c_op_wait_new() {
  local out rc fp
  out=$(metis_op wait "$OP_NODE" --timeout 5m --interval 3s --kubeconfig "$KUBECONFIG_E2E" --inventory "$OP_INV" 2>&1)
  rc=$?
  echo "$out" >"$WORK/wait1-new.log"
  expect_eq "$rc" 0 || { tail -12 <<<"$out"; return 1; }
  expect_match "$out" "$OP_NODE is back \\(new identity\\)" || return 1
  expect_match "$out" "\\[ok\\] SSH on port 2277 \\(no escrow: host key trusted on first use\\)" || return 1
  # The key it trusted is the one the new card generated (read by the harness's own channel).
  fp=$(gssh 1 ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2)
  [[ $fp == SHA256:* && $out == *"new SSH host key (trusted on first use, not proven): ssh-ed25519 $fp"* ]] ||
    { echo "fingerprint $fp not in: $(grep 'new SSH host key' <<<"$out")"; return 1; }
  # The operator's strict known_hosts was not touched: it still holds the old card's key.
  cmp -s "$OP/known_hosts" "$OP/known_hosts.7d" || { echo "metis wait wrote the operator's known_hosts"; return 1; }
}
c_op_new_identity() {
  local before after pw
  before=$(cat "$WORK/identity1" 2>/dev/null)
  after=$(identity_of 1)
  [[ -n $before && -n $after ]] || { echo "identity missing: before='$before' after='$after'"; return 1; }
  paste <(tr ' ' '\n' <<<"$before") <(tr ' ' '\n' <<<"$after") | awk '$1==$2 || $2=="" {print "same or empty: " $0; bad=1} END{exit bad}' || return 1
  pw=$(gssh 1 sha256sum /etc/rancher/node/password | cut -c1-64)
  expect_match "$pw" '^[0-9a-f]{64}$' || return 1
  [[ $pw != "$(cat "$OP/node-password.sha256")" ]] || { echo "the node password is the old one"; return 1; }
}
# The server stand-in (k3s's node-password rule): after the delete, the name joined afresh with the
# new password (a new Node object), nothing was refused, and the OLD password is now the refused one.
c_op_new_join_accepted() {
  local ev created
  ev=$(standin_events "$(cat "$OP/log-mark-7d")" | tr '\n' ' ')
  expect_match "$(gssh 1 cat /var/lib/k3s-standin/join)" "^joined $OP_NODE\$" || return 1
  [[ $ev == *node-deleted*node-joined* && $ev != *node-password-rejected* ]] || { echo "stand-in events for $OP_NODE since 7d's replace: $ev"; return 1; }
  created=$(node_field 'n.metadata.creationTimestamp')
  expect_match "$created" '^[0-9]{4}-' || return 1
  [[ $created != "$(cat "$OP/node-created-7d")" ]] || { echo "the Node was not recreated: $created"; return 1; }
  expect_eq "$(node_field 'n.status.conditions.find((c)=>c.type==="Ready").status')" True || return 1
  expect_eq "$(standin_join_code "$NODE_PW")" 403
}
step_replace_new() {
  [[ -f ${OP:-/nonexistent}/node-password.sha256 && -f $OP_INV/identity/$OP_NODE.age ]] || { result NOTRUN "7d replace without escrow" "no escrow to take away (7a/7b)"; return 1; }
  local t0=$SECONDS
  check "7d metis replace --to FILE --yes, no escrow: NEW identity, Node deleted" c_op_replace_new
  [[ -s $WORK/node1.img ]] || { result NOTRUN "7d boot the new card, metis wait" "no card from replace"; return 1; }
  local grow=$((1024 * 1024 * 1024))
  qemu-img create -q -f qcow2 -b "$WORK/node1.img" -F raw "$WORK/node1.qcow2" "$(($(stat -c %s "$WORK/node1.img") + grow))" ||
    { result FAIL "7d overlay for the new card"; return 1; }
  # The harness's own channel learns the new card's key at first contact, as at node 1's first boot.
  rm -f "$WORK/known_hosts1"
  if boot_node 1 replaced-new; then
    check "7d metis wait: back (new identity), first-use host key shown" c_op_wait_new
    check "7d machine-id, host key, initiator, node password all new" c_op_new_identity
    check "7d server stand-in: new join accepted, old password refused" c_op_new_join_accepted
  else
    result NOTRUN "7d metis wait" "the replaced node 1 did not come up"
  fi
  shutdown_node 1
  # What 7d adds to the run (CI's whole e2e must stay under 60 min): budgeted, and said in seconds.
  within_budget 7d "$E2E_7D_BUDGET_S" "$t0" "replace without escrow: replace, boot, wait, checks, poweroff"
}
