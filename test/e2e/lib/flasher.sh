# shellcheck shell=bash
# Step 2 for node 1 of test/e2e/run.sh: the card is burned through a flashing host. The host is a
# network namespace running Debian's real sshd (test/e2e/lib/flasher.mjs → test/helpers/ssh-host.ts,
# root login with a key, its host key pinned in a test ssh_config); the card is a loop device over a
# file the size of a card, which that host sees as /dev/loopN (the namespace shares this machine's
# filesystem). After the burn the loop is released and the file is what boot_node boots.
FLASHER_PID=""
FLASHER_LOOP=""
declare -A FLASHER=()

flasher_cleanup() {
  if [[ -n $FLASHER_LOOP ]]; then losetup -d "$FLASHER_LOOP" 2>/dev/null; FLASHER_LOOP=""; fi
  if [[ -n $FLASHER_PID ]]; then
    kill "$FLASHER_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$FLASHER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$FLASHER_PID" 2>/dev/null && kill -9 "$FLASHER_PID" 2>/dev/null
    wait "$FLASHER_PID" 2>/dev/null
    FLASHER_PID=""
  fi
}

# Starts the flashing host (not in a subshell: its PID must be ours to stop) and names it in the
# test inventory's cluster.yaml as `flashers: e2e-flasher`, its cache under $WORK.
flasher_start() {
  local out="$WORK/flasher.out" inv k v
  node test/e2e/lib/flasher.mjs "$WORK/flasher" mte2e $$ >"$out" 2>"$WORK/flasher.log" </dev/null &
  FLASHER_PID=$!
  for _ in $(seq 600); do
    grep -qx ready "$out" 2>/dev/null && break
    kill -0 "$FLASHER_PID" 2>/dev/null || break
    sleep 0.1
  done
  grep -qx ready "$out" 2>/dev/null || { cat "$WORK/flasher.log"; return 1; }
  while IFS='=' read -r k v; do [[ -n $v ]] && FLASHER[$k]=$v; done <"$out"
  inv=$(test_inventory)
  printf '\nflashers:\n  e2e-flasher:\n    ssh: root@%s\n    cache: %s\n' "${FLASHER[alias]}" "$WORK/flasher-cache" >>"$inv/cluster.yaml"
  log "flashing host: namespace ${FLASHER[ns]}, sshd ${FLASHER[addr]}:${FLASHER[port]} (pid ${FLASHER[sshd_pid]})"
}

# The card: a file the size of a card (the image rounded up to 256 MiB, plus 256 MiB), on a loop.
flasher_card() {
  local img=$1 out=$2 size
  size=$(stat -c %s "$img")
  rm -f "$out"
  truncate -s $(((size / 268435456 + 2) * 268435456)) "$out" || return 1
  FLASHER_LOOP=$(losetup -f --show "$out") || return 1
}

# No file on the flashing host's side holds a secret: its cache and its sshd's dir, /tmp, /run,
# /dev/shm (one filesystem each). Excepted: the run's own work dir (the operator's workstation and the
# cluster side of the test live there: the server stand-in's state holds the token by design) other
# than the flasher's dirs, which are scanned explicitly, and the card's backing file, where the
# manifest belongs.
# The secrets reach the scanner in its environment, never in argv.
flasher_no_secrets() {
  local card=$1 hits
  [[ -d $WORK/flasher-cache/blobs ]] || { echo "the flashing host's cache $WORK/flasher-cache holds no image: was it used?"; return 1; }
  hits=$(SCAN_SECRETS="$SECRET_PW"$'\n'"$NODE_PW" node test/e2e/lib/flasher-scan.mjs "$card:$WORK" "$WORK/flasher-cache" "$WORK/flasher" /tmp /run /dev/shm) ||
    { echo "secret found in: $hits"; return 1; }
}

# burn_via_flasher NODE IMAGE OUT: `metis burn NODE --host e2e-flasher --device /dev/loopN`, secrets from
# the environment; then the loop is released so OUT holds exactly what the card holds.
burn_via_flasher() {
  local inv rc
  flasher_start || { echo "flashing host did not start"; return 1; }
  flasher_card "$2" "$3" || { echo "no loop device for the card"; return 1; }
  inv=$(test_inventory)
  echo "card: $FLASHER_LOOP over $3 ($(stat -c %s "$3") bytes)"
  METIS_E2E_NODE_PASSWORD="$NODE_PW" METIS_E2E_TOKEN="$TOKEN" METIS_SSH_CONFIG="${FLASHER[ssh_config]}" \
    node dist/metis.js burn "$1" --inventory "$inv" --host e2e-flasher --device "$FLASHER_LOOP" --image "$2" --yes --cache "$WORK/metis-cache"
  rc=$?
  sync
  losetup -d "$FLASHER_LOOP" && FLASHER_LOOP=""
  return $rc
}
