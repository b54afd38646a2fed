# shellcheck shell=bash
# Step 9 of test/e2e/run.sh: a class image built on a vendor image (`metis image build --base`).
# No vendor image can be downloaded here, so the test makes one the way a vendor ships a card:
# debootstrap (its own mirror sources, no nodejs, no open-iscsi), then the vendor's own identity
# (machine-id, SSH host keys, hostname), a DHCP .network for every wired NIC, PARTUUID fstab, the
# kernel on the FAT firmware partition beside config.txt and cmdline.txt, packed as .img.zst.
# Metis must: install the missing packages with the vendor's apt sources, strip the identity, keep
# the vendor's cmdline with root= repointed, and the card must boot, converge and rejoin.
VENDOR_DISK_ID=5e1dc0de

host_mirror() {
  awk -v s=bookworm 'BEGIN{RS=""} /^Types:.*deb/ && $0 ~ ("Suites:[^\n]*[ ]" s "([ \n]|$)") { for (i=1;i<=NF;i++) if ($i=="URIs:") { print $(i+1); exit } }' /etc/apt/sources.list.d/debian.sources
}

# Sets VENDOR_IMG (cached in $CACHE by this function's own text) and VENDOR_ID (its machine-id and host key).
make_vendor_image() {
  local key root="$WORK/vendor-root" boot="$WORK/vendor-boot" raw="$WORK/vendor.img" mirror
  key=$(declare -f make_vendor_image | sha256sum | cut -c1-16)
  VENDOR_IMG="$CACHE/vendor-amd64-$key.img.zst"
  if [[ ! -f $VENDOR_IMG || ! -f $VENDOR_IMG.identity ]]; then
    rm -f "$CACHE"/vendor-amd64-*
    mirror=$(host_mirror)
    [[ -n $mirror ]] || { echo "no Debian mirror in /etc/apt/sources.list.d/debian.sources"; return 1; }
    debootstrap --variant=minbase --arch=amd64 --cache-dir="$REPO/.cache/metis-image/debs" \
      --include=systemd,systemd-sysv,dbus,udev,openssh-server,iproute2,kmod,e2fsprogs,linux-image-amd64 \
      bookworm "$root" "$mirror" >"$WORK/vendor-debootstrap.log" 2>&1 || { tail -5 "$WORK/vendor-debootstrap.log"; return 1; }
    # The vendor's identity: every card of theirs would share it.
    openssl rand -hex 16 >"$root/etc/machine-id"
    [[ -f $root/etc/ssh/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -f "$root/etc/ssh/ssh_host_ed25519_key"
    echo vendorpi >"$root/etc/hostname"
    mkdir -p "$root/etc/systemd/network" "$root/boot/firmware" "$boot"
    printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >"$root/etc/systemd/network/99-vendor-dhcp.network"
    systemctl --root="$root" enable systemd-networkd.service >/dev/null 2>&1
    printf 'PARTUUID=%s-01 /boot/firmware vfat defaults 0 2\nPARTUUID=%s-02 / ext4 defaults,noatime 0 1\n' "$VENDOR_DISK_ID" "$VENDOR_DISK_ID" >"$root/etc/fstab"
    cp "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* "$boot/"
    printf '# vendor firmware settings\narm_64bit=1\n' >"$boot/config.txt"
    echo "console=ttyS0 root=PARTUUID=$VENDOR_DISK_ID-02 rw panic=-1 quiet" >"$boot/cmdline.txt"
    local mib boot_s=$((128 * 2048))
    mib=$(($(du -s --block-size=1M "$root" | cut -f1) * 13 / 10 + 200))
    rm -f "$raw" && truncate -s "$((1 + 128 + mib))M" "$raw" &&
      printf 'label: dos\nlabel-id: 0x%s\nstart=2048, size=%d, type=c\nstart=%d, type=83\n' "$VENDOR_DISK_ID" "$boot_s" "$((2048 + boot_s))" |
      sfdisk -q --no-reread --no-tell-kernel "$raw" &&
      mkfs.vfat -F 32 -s 1 --offset 2048 "$raw" $((128 * 1024)) >/dev/null &&
      mcopy -s -p -i "$raw@@$((2048 * 512))" "$boot"/* ::/ &&
      mkfs.ext4 -q -F -d "$root" -E "offset=$(((2048 + boot_s) * 512))" "$raw" "${mib}M" &&
      zstd -q -T0 -3 "$raw" -o "$VENDOR_IMG.partial" || return 1
    echo "$(cat "$root/etc/machine-id") $(ssh-keygen -lf "$root/etc/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2)" >"$VENDOR_IMG.identity"
    mv "$VENDOR_IMG.partial" "$VENDOR_IMG"
    rm -rf "$root" "$boot" "$raw"
  fi
  VENDOR_ID=$(cat "$VENDOR_IMG.identity")
}

c_vendor_dhcp_off() {
  gssh "$1" 'test -f /etc/systemd/network/99-vendor-dhcp.network.metis-disabled && ! test -e /etc/systemd/network/99-vendor-dhcp.network'
}
c_vendor_identity() {
  local mine
  mine=$(gssh "$1" 'echo $(cat /etc/machine-id) $(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2)')
  paste <(tr ' ' '\n' <<<"$VENDOR_ID") <(tr ' ' '\n' <<<"$mine") | awk '$1==$2 || $2=="" {print "vendor identity kept: " $0; bad=1} END{exit bad}'
}
c_vendor_cmdline() {
  expect_match "$(gssh "$1" cat /proc/cmdline)" "root=PARTUUID=$(classid_serial)-02 rw panic=-1 quiet"
}
classid_serial() { sfdisk -J "$IMG" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).partitiontable.id.slice(2))'; }

step_vendor() {
  local t0=$SECONDS amd64_img=$IMG
  if ! make_vendor_image >"$WORK/vendor.log" 2>&1; then
    tail -10 "$WORK/vendor.log"
    result FAIL "9 vendor base image (test-made)" "see log above"
    return
  fi
  result PASS "9 vendor base image (test-made)" "$(basename "$VENDOR_IMG"), $((SECONDS - t0)) s"
  class_image e2e-vendor 9 --base "$VENDOR_IMG" || return
  IMG=$CLASS_IMG
  check "9 vendor-based image has no identity" image_has_no_identity "$IMG"
  if burn_node 3 && boot_node 3 first; then
    check "9 vendor node: hostname" c_hostname 3
    check "9 vendor node: end0 address + default route" c_address 3
    check "9 vendor node: vendor DHCP config disabled" c_vendor_dhcp_off 3
    check "9 vendor node: vendor cmdline kept, root= repointed" c_vendor_cmdline 3
    check "9 vendor node: root grown to fill the disk" c_growroot 3
    check "9 vendor node: mount from its UUID" c_mount 3 /mnt/e2e-a "$UUID_A"
    check "9 vendor node: iSCSI login (open-iscsi added)" c_iscsi_login 3
    check "9 vendor node: k3s-agent active with expected config" c_k3s 3
    check "9 vendor node: last-run.json: apply, 0 failed" c_last_run 3
    check "9 vendor node: machine-id and host key differ from the vendor's" c_vendor_identity 3
    check "9 vendor node: second run changed=0" c_idempotent 3
  else
    result NOTRUN "9 vendor node checks" "node 3 was not burned or did not come up"
  fi
  shutdown_node 3
  IMG=$amd64_img
}
