#!/usr/bin/env bash
# make hw-test: glasskey's real USB HID path (hidapi enumeration, the hidraw
# transport, CTAPHID) on a real Linux kernel. Boots Debian's kernel under QEMU
# (TCG) with an initramfs holding busybox, glasskey, a UHID bridge and the HID
# modules; inside, UHID devices with a real FIDO key's report descriptor become
# /dev/hidrawN through hid-generic, and each is bridged over a serial port to an
# independent authenticator on the host (trussed-peer, opensk-peer).
#
# usage: tests/hw/run.sh GLASSKEY_BINARY
# needs: TRUSSED_PEER and OPENSK_PEER (see ../shared/peers), root or sudo for apt-get.
# KEEP=1 keeps the work dir; SCENARIO=FILE (with EXTRA="FILES" copied to /hw) replaces the
# guest scenario, for diagnosing the kernel side by hand.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
glasskey=${1:?usage: run.sh GLASSKEY_BINARY}
: "${TRUSSED_PEER:?build the peers first: eval \"\$(../shared/peers/build.sh)\"}"
: "${OPENSK_PEER:?build the peers first: eval \"\$(../shared/peers/build.sh)\"}"
# How long the guest may run before the harness calls it hung.
GUEST_TIMEOUT=${GUEST_TIMEOUT:-600}
SLOW_TOUCH_MS=${SLOW_TOUCH_MS:-120000}
DESCRIPTORS=${DESCRIPTORS:-$repo/../shared/testvectors/wiredata/hid-report-descriptors.tsv}
t0=$(date +%s.%N)
elapsed() { echo "$(date +%s.%N) $t0" | awk '{ printf "%.1f", $1 - $2 }'; }

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
missing=()
command -v qemu-system-x86_64 > /dev/null || missing+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*' > /dev/null || missing+=(linux-image-amd64)
[ -x /bin/busybox ] && ! ldd /bin/busybox > /dev/null 2>&1 || missing+=(busybox-static)
command -v gcc > /dev/null || missing+=(gcc libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

kernel=$(ls /boot/vmlinuz-* | sort -V | tail -1)
kver=${kernel#/boot/vmlinuz-}
modules=/lib/modules/$kver/kernel/drivers/hid
work=$(mktemp -d /tmp/glasskey-hw.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
	wait 2> /dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# --- the initramfs
root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,root,kit,hw,etc/udev/rules.d,lib/modules,run}
cp /bin/busybox "$root/bin/busybox"
# Stripped: the debug binary's symbols would make the initramfs ten times larger.
objcopy --strip-debug "$glasskey" "$root/bin/glasskey"
gcc -static -O2 -Wall -Wextra -o "$root/bin/uhid-bridge" "$here/uhid-bridge.c"
copy_libs() { # BINARY: the shared libraries ldd names, at their own paths
	ldd "$1" | grep -o '/[^ ]*' | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
copy_libs "$root/bin/glasskey"
if command -v udevadm > /dev/null; then
	cp -L "$(command -v udevadm)" "$root/bin/"
	copy_libs "$root/bin/udevadm"
	cp "$repo/udev/70-glasskey-fido.rules" "$root/etc/udev/rules.d/"
fi
for m in hid uhid hid-generic; do
	cp "$modules/$m.ko" "$root/lib/modules/" 2> /dev/null ||
		{ xz -dc "$modules/$m.ko.xz" > "$root/lib/modules/$m.ko"; }
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nglasskey:x:990:\n' > "$root/etc/group"
# The FIDO interface of a real key (Feitian/Token2), as captured.
awk -F'\t' '$1 ~ /^feitian_token2_fido_interface/ { print $3 }' "$DESCRIPTORS" > "$root/hw/rdesc.hex"
[ -s "$root/hw/rdesc.hex" ] || { echo "no FIDO descriptor in $DESCRIPTORS"; exit 2; }
cp "${SCENARIO:-$here/guest-scenario.sh}" "$root/hw/scenario.sh"
[ -z "${EXTRA:-}" ] || cp $EXTRA "$root/hw/"
cat > "$root/init" << 'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in hid uhid hid-generic; do insmod /lib/modules/$m.ko || echo "insmod $m failed"; done
ip link set lo up
for s in 0 1 2 3 4 5 6 7 8 9; do [ -e /dev/uhid ] && break; sleep 0.1; done
echo "HW-BOOTED uptime $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r)"
sh /hw/scenario.sh
echo "HW-DONE"
poweroff -f
EOF
chmod +x "$root/init" "$root/hw/scenario.sh"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz"
echo "== initramfs $(du -h "$work/initrd.gz" | cut -f1) built in $(elapsed) s ($kernel)"

# --- the peers, one per serial port
start_peer() { # NAME ARGS...: start a peer on $work/NAME.sock, wait for READY
	local name=$1
	shift
	"$@" --unix "$work/$name.sock" > "$work/$name.out" 2> "$work/$name.log" &
	pids+=($!)
	for _ in $(seq 100); do grep -q READY "$work/$name.out" && return 0; sleep 0.05; done
	echo "peer $name did not start:"
	cat "$work/$name.log"
	exit 1
}
start_peer trussed "$TRUSSED_PEER"
start_peer opensk "$OPENSK_PEER"
start_peer slow "$TRUSSED_PEER" --up "delay:$SLOW_TOUCH_MS" -v

# --- boot and run the scenario
echo "== booting $kver under QEMU (TCG)"
tboot=$(date +%s.%N)
set +e
timeout "$GUEST_TIMEOUT" qemu-system-x86_64 -accel tcg -m 768 -smp 1 -display none -no-reboot \
	-kernel "$kernel" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1 loglevel=3" \
	-serial stdio \
	-chardev socket,id=trussed,path="$work/trussed.sock" -serial chardev:trussed \
	-chardev socket,id=opensk,path="$work/opensk.sock" -serial chardev:opensk \
	-chardev socket,id=slow,path="$work/slow.sock" -serial chardev:slow \
	< /dev/null 2>&1 | tr -d '\r' | while IFS= read -r line; do
		case $line in
		HW-BOOTED*) echo "$line (QEMU start to /init: $(echo "$(date +%s.%N) $tboot" | awk '{ printf "%.1f", $1 - $2 }') s)" ;;
		*) printf '%s\n' "$line" ;;
		esac
	done | tee "$work/console.log"
qemu=${PIPESTATUS[0]}
set -e

echo "== the slow-touch peer's log (trussed-peer -v): CTAPHID CANCEL (0x91) must have reached it"
# -v logs every report: ">>" host to peer, "<<" peer to host; cid (4 bytes) then the command.
failed=0
if grep -Eq '^>> [0-9a-f]{8}91' "$work/slow.log"; then
	grep -E -A1 '^>> [0-9a-f]{8}91' "$work/slow.log" | cut -c1-40 | sed 's/$/.../; s/^/    /'
	echo "HW-RESULT ok cancel-reached-peer"
else
	echo "HW-RESULT FAIL cancel-reached-peer"
	tail -5 "$work/slow.log" | sed 's/^/    /'
	failed=1
fi
passed=$(grep -c '^HW-RESULT ok' "$work/console.log" || true)
guest_failed=$(grep -c '^HW-RESULT FAIL' "$work/console.log" || true)
echo "== hw-test: $((passed + 1 - failed)) passed, $((guest_failed + failed)) failed, total $(elapsed) s"
if [ "$qemu" = 124 ]; then
	echo "hw-test: the guest did not finish within ${GUEST_TIMEOUT} s"
	exit 1
fi
grep -q '^HW-DONE' "$work/console.log" || { echo "hw-test: the scenario did not finish"; exit 1; }
[ "$guest_failed" = 0 ] && [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
