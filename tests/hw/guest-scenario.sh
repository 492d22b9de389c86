#!/bin/sh
# The hw-test scenario, run inside the QEMU guest by the generated /init.
# glasskey meets keys the way an operator's machine shows them: UHID devices the
# kernel's hid-generic driver exposes as /dev/hidrawN, found through hidapi.
# Serial ports: ttyS1 = trussed-peer, ttyS2 = opensk-peer, ttyS3 = trussed-peer
# that waits a long time for a touch. Every step prints its command, output and
# exit code, then one "HW-RESULT ok|FAIL NAME" line the host harness counts.

RDESC=$(cat /hw/rdesc.hex)
PIN_OPENSK=24681357
PIN_TRUSSED=5830291746
PIN_SLOW=7315948260
TENANT=contoso.onmicrosoft.com
# USER names who is present in the ledger when a command has no --operator.
export HOME=/root USER=hw-operator GLASSKEY_CLIENT_SECRET=emulator-secret
: > /tmp/results

ok() { echo "HW-RESULT ok $1" | tee -a /tmp/results; }
fail() { echo "HW-RESULT FAIL $1" | tee -a /tmp/results; }

# step NAME WANT_EXIT PATTERN CMD...: run CMD (stdin from the caller, 120 s at most),
# show it, and pass when it exits WANT_EXIT and its output matches PATTERN (grep -E).
step() {
	name=$1 want=$2 pattern=$3
	shift 3
	start=$(date +%s)
	timeout 120 "$@" > /tmp/step.out 2>&1
	code=$?
	echo "--- $name: $* (exit $code, $(($(date +%s) - start)) s)"
	sed 's/^/    /' /tmp/step.out
	if [ "$code" = "$want" ] && grep -Eq -- "$pattern" /tmp/step.out; then
		ok "$name"
	else
		fail "$name (exit $code, wanted $want and /$pattern/)"
	fi
}

# bridge VAR TTY VID PID NAME [OPTIONS]: plug a UHID key; sets VAR to its /dev/hidrawN
# and VAR_BRIDGE to the bridge's pid (kill it to unplug the key).
bridge() {
	var=$1
	shift
	log=/tmp/bridge-$(echo "$4" | tr -c 'a-zA-Z0-9\n' _).log
	uhid-bridge "$1" "$2" "$3" "$4" "$RDESC" $5 $6 > "$log" 2>&1 &
	eval "${var}_BRIDGE=$!"
	i=0
	while [ $i -lt 100 ]; do
		for d in /sys/class/hidraw/hidraw*; do
			if grep -q "HID_NAME=$4\$" "$d/device/uevent" 2>/dev/null && [ -e "/dev/${d##*/}" ]; then
				eval "$var=/dev/${d##*/}"
				echo "    plugged $4 at /dev/${d##*/}"
				return 0
			fi
		done
		sleep 0.1
		i=$((i + 1))
	done
	echo "    bridge for $4 did not appear:"
	sed 's/^/    /' "$log"
	fail "plug $4"
	return 1
}

unplug() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; sleep 0.3; }

echo "== one key: OpenSK, found through hidapi (no --device)"
bridge OPENSK /dev/ttyS2 0x1915 0x521f "OpenSK (opensk-peer via UHID)"
step list-one 0 '"path": "/dev/hidraw[0-9]+"' glasskey --json keys list
grep -q '"vendor_id": 6421' /tmp/step.out && grep -q '"product_id": 21023' /tmp/step.out &&
	grep -q '"product": "OpenSK (opensk-peer via UHID)"' /tmp/step.out &&
	ok list-one-vid-pid-product || fail list-one-vid-pid-product
step info-one 0 'PIN' glasskey keys info
printf '%s\n%s\n' $PIN_OPENSK $PIN_OPENSK | step set-pin 0 "PIN set on $OPENSK" glasskey keys set-pin
step info-after-set-pin 0 'PIN' glasskey keys info

echo "== a silent key (nothing answers on the UHID side) is not a removed one"
bridge SILENT none 0x1050 0x0407 "Silent key (UHID, nobody answers)"
step silent-key 3 'did not answer' glasskey --device "$SILENT" keys info
grep -q 'removed\|disconnected' /tmp/step.out && fail silent-key-not-removed || ok silent-key-not-removed
unplug $SILENT_BRIDGE

echo "== two keys: trussed and OpenSK both listed, each selectable"
bridge TRUSSED /dev/ttyS1 0x20a0 0x42b2 "Nitrokey 3 (trussed-peer via UHID)"
step list-two 0 'trussed-peer via UHID' glasskey --json keys list
grep -q 'opensk-peer via UHID' /tmp/step.out && grep -q "\"path\": \"$TRUSSED\"" /tmp/step.out &&
	grep -q "\"path\": \"$OPENSK\"" /tmp/step.out && ok list-two-both || fail list-two-both
step info-needs-a-choice 2 '2 keys found' glasskey keys info
step pick-trussed 0 '8bc54968' glasskey --device "$TRUSSED" keys info
step pick-opensk 0 'PIN' glasskey --device "$OPENSK" keys info

echo "== udev rules"
if command -v udevadm > /dev/null; then
	udevadm test "/sys/class/hidraw/${TRUSSED##*/}" > /tmp/udev.out 2>&1
	grep -E 'glasskey|GROUP|MODE|uaccess|ID_FIDO_TOKEN' /tmp/udev.out | sed 's/^/    /'
	grep -q 'ID_FIDO_TOKEN=1' /tmp/udev.out && grep -Eq "GROUP.*glasskey|glasskey.*GROUP" /tmp/udev.out &&
		ok udev-rules-grant-fido-key || fail udev-rules-grant-fido-key
else
	echo "    udevadm not in the guest: rules not exercised"
fi

echo "== enroll + check online against the Graph emulator on the guest's loopback"
glasskey graph emulator --listen 127.0.0.1:0 > /tmp/emulator.out 2> /tmp/emulator.err &
i=0
while ! grep -q READY /tmp/emulator.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
URL=$(sed -n 's/^READY //p' /tmp/emulator.out)
echo "    emulator at $URL"
GK="glasskey --kit /kit --graph-url $URL --login-url $URL --tenant $TENANT --client-id 11111111-1111-1111-1111-111111111111"
step ledger-init 0 '' $GK ledger init
# The peers' attestations are a test certificate and self attestation: allow them knowingly.
sed -i -e 's/allow_self_attestation = false/allow_self_attestation = true/' \
	-e 's/allow_unknown_root = false/allow_unknown_root = true/' /kit/glasskey.toml
printf '%s\n%s\n' $PIN_TRUSSED $PIN_TRUSSED | step enroll 0 'hw-trussed' $GK --device "$TRUSSED" enroll \
	--account bg1@$TENANT --location vault --label hw-trussed --seal HW-1 --pin-prompt \
	--pin-slip-cmd 'cat > /dev/null' --operator Alice --operator Bob
printf 'y\n%s\n' $PIN_TRUSSED | step check 0 'PASSED' $GK --device "$TRUSSED" check --key hw-trussed \
	--new-seal HW-2 --online

echo "== fault: another program holds the device lock (flock, as libfido2 takes it)"
# The holder: a glasskey waiting at its PIN prompt with the key open (stdin stays open 8 s).
sleep 8 | glasskey --device "$TRUSSED" keys change-pin > /tmp/holder.out 2>&1 &
HOLDER=$!
i=0
while ! grep -q 'Current PIN' /tmp/holder.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
step lock-held 3 'in use by another program' glasskey --device "$TRUSSED" keys info
wait $HOLDER
step lock-released 0 '8bc54968' glasskey --device "$TRUSSED" keys info

echo "== fault: Ctrl-C while the key waits for a touch"
bridge SLOW /dev/ttyS3 0x20a0 0x42b2 "Nitrokey 3 slow touch (trussed-peer via UHID)"
printf '%s\n%s\n' $PIN_SLOW $PIN_SLOW | $GK --device "$SLOW" enroll --account bg2@$TENANT \
	--location office-safe --label hw-slow --seal HW-5 --pin-prompt --pin-slip-cmd 'cat > /dev/null' \
	--operator Alice --operator Bob > /tmp/slow.out 2>&1 &
ENROLL=$!
i=0
while ! grep -q 'touch the key now' /tmp/slow.out && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
sleep 1
start=$(date +%s)
kill -INT $ENROLL
wait $ENROLL
code=$?
echo "--- sigint: enroll on $SLOW, SIGINT after 'touch the key now' (exit $code, $(($(date +%s) - start)) s after the signal)"
sed 's/^/    /' /tmp/slow.out
[ "$code" = 130 ] && grep -q 'cancelled' /tmp/slow.out && ok sigint-exits-130 || fail "sigint-exits-130 (exit $code)"
# The interrupted enrollment is journaled: resume names it and its next step.
step sigint-recorded 0 'hw-slow' $GK resume --dry-run

echo "== fault: the key is yanked mid-command (UHID device destroyed on getAssertion)"
unplug $TRUSSED_BRIDGE
bridge YANK /dev/ttyS1 0x20a0 0x42b2 "Nitrokey 3 yanked (trussed-peer via UHID)" --yank-on-cbor 0x02
# A key pulled out mid-check is a device failure (exit 3) naming the cause, not a
# failed liveness check: nothing is said about the key's credential or PIN.
printf 'y\n%s\n' $PIN_TRUSSED | step yank 3 'the key at /dev/hidraw[0-9]+ was removed' $GK --device "$YANK" \
	check --key hw-trussed --new-seal HW-6
cat /tmp/bridge-Nitrokey_3_yanked*.log | sed 's/^/    bridge: /'
step ledger-after-yank 0 'hw-trussed' $GK ledger show
step ledger-verifies 0 '' $GK ledger verify

unplug $OPENSK_BRIDGE
echo "HW-SUMMARY $(grep -c '^HW-RESULT ok' /tmp/results) passed, $(grep -c '^HW-RESULT FAIL' /tmp/results) failed"
