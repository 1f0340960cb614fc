#!/usr/bin/env bash
# CPU per value against the cryptographic floor, in one run: `decrypt -e` of N cv25519 values
# (default 2000) and of NRSA rsa3072 values (default 200) with the secret key in a key file,
# and `encrypt -e` of NENC values (default 200) to six rsa3072 recipients, each as CPU time
# (user + sys of the process, all threads) divided by the number of values, against what
# `openssl speed` measures for the one operation each value needs (X25519; an RSA-3072
# private-key operation; six RSA-3072 public-key operations). `openssl speed` reports the CPU
# time of its loop, so both sides are CPU time and the ratios hold on a loaded machine.
# The "marginal" columns subtract the CPU of the same command on an empty file (process
# start-up, reading the key, the thread pool): what one more value costs.
#
# Usage: benches/cpu_per_value.sh   (BIN=path to benchmark a given binary instead of building
#                                    the release one; N, NRSA, NENC, RUNS to resize)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-2000}
NRSA=${NRSA:-200}
NENC=${NENC:-200}
RUNS=${RUNS:-5}
if [ -z "${BIN:-}" ]; then
    cargo build -q --release --manifest-path "$ROOT/Cargo.toml" --bin eyaml-gpg
    BIN=$ROOT/target/release/eyaml-gpg
fi
KEYS=$ROOT/fixtures/reference/keys
W=$(mktemp -d /tmp/eyaml-gpg-cpu.XXXXXX)
export GNUPGHOME=$W/gnupg
trap 'gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -m 700 "$GNUPGHOME"
. "$ROOT/benches/lib.sh"

# CPU time (user + sys, microseconds) of one run of a command, its output discarded: the
# children line of bash's `times` in a subshell that runs only that command.
cpu_us() {
    ( "$@" > /dev/null || { echo "failed: $*" >&2; exit 1; }; times ) | tail -1 | awk '{
        t = 0
        for (i = 1; i <= NF; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
        printf "%d\n", t * 1e6 }'
}
# Median CPU time of RUNS runs.
median_cpu() {
    local runs
    runs=$(for _ in $(seq 1 "$RUNS"); do cpu_us "$@"; done)
    [ "$(echo "$runs" | wc -w)" = "$RUNS" ] || exit 1
    echo "$runs" | median
}
# CPU microseconds per operation from `openssl speed -mr` ("+R<n>:count:bits:seconds").
speed() {
    openssl speed -seconds 3 -mr "$1" 2>&1 | awk -F: -v r="+$2" '$1 == r { printf "%.2f\n", $4 / $2 * 1e6 }'
}
values() { { echo '---'; for i in $(seq 1 "$1"); do echo "key_$i: DEC::GPG[secret value number $i]!"; done; } }

for k in 1 2 3 4 5; do
    gpg --batch -q --pinentry-mode loopback --passphrase '' \
        --quick-gen-key "Recipient $k <r$k@example.com>" rsa3072 encr never 2>/dev/null
done
gpg --batch -q --import "$KEYS/alice.pub.asc" 2>/dev/null
gpg --batch -q --export > "$W/recipients.gpg"
SIX=alice@example.com,r1@example.com,r2@example.com,r3@example.com,r4@example.com,r5@example.com

values "$N" > "$W/cv.src"
"$BIN" --gpg-keyring "$KEYS/bob.pub.asc" --gpg-recipients bob@example.com encrypt -e "$W/cv.src" > "$W/cv.eyaml"
values "$NRSA" > "$W/rsa.src"
"$BIN" --gpg-keyring "$KEYS/alice.pub.asc" --gpg-recipients alice@example.com encrypt -e "$W/rsa.src" > "$W/rsa.eyaml"
values "$NENC" > "$W/enc.src"
echo '---' > "$W/empty.eyaml"

x25519=$(speed ecdhx25519 R7)
cv=$(median_cpu "$BIN" --gpg-keyring "$KEYS/bob.sec.asc" decrypt -e "$W/cv.eyaml")
cv0=$(median_cpu "$BIN" --gpg-keyring "$KEYS/bob.sec.asc" decrypt -e "$W/empty.eyaml")
rsapriv=$(speed rsa3072 R1)
rsapub=$(speed rsa3072 R2)
rsa=$(median_cpu "$BIN" --gpg-keyring "$KEYS/alice.sec.asc" decrypt -e "$W/rsa.eyaml")
rsa0=$(median_cpu "$BIN" --gpg-keyring "$KEYS/alice.sec.asc" decrypt -e "$W/empty.eyaml")
enc=$(median_cpu "$BIN" --gpg-keyring "$W/recipients.gpg" --gpg-recipients "$SIX" encrypt -e "$W/enc.src")
enc0=$(median_cpu "$BIN" --gpg-keyring "$W/recipients.gpg" --gpg-recipients "$SIX" encrypt -e "$W/empty.eyaml")

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(openssl version | cut -d' ' -f1-2)"
echo "binary: $BIN ($("$BIN" version 2>/dev/null | head -1))"
echo "load before/after: $(cut -d' ' -f1-3 /proc/loadavg) (median of $RUNS runs each)"
awk -v n="$N" -v nr="$NRSA" -v ne="$NENC" \
    -v cv="$cv" -v cv0="$cv0" -v x="$x25519" \
    -v rsa="$rsa" -v rsa0="$rsa0" -v rp="$rsapriv" \
    -v enc="$enc" -v enc0="$enc0" -v pub="$rsapub" 'BEGIN {
    printf "%-34s %9s %9s %11s %9s %9s\n", "", "us/value", "floor_us", "ratio", "marginal", "ratio"
    row("decrypt -e, " n " cv25519 values", cv, cv0, n, x, "X25519")
    row("decrypt -e, " nr " rsa3072 values", rsa, rsa0, nr, rp, "RSA priv")
    row("encrypt -e, " ne " values, 6x rsa3072", enc, enc0, ne, 6 * pub, "6 RSA pub")
    printf "start-up (empty file): cv25519 key %.1f ms, rsa3072 key %.1f ms, 6 certs %.1f ms CPU\n", cv0 / 1000, rsa0 / 1000, enc0 / 1000
}
function row(what, total, empty, count, floor, name) {
    printf "%-34s %9.1f %9.1f %6.2fx %-4s %9.1f %6.2fx\n", what, total / count, floor, total / count / floor, "", (total - empty) / count, (total - empty) / count / floor
}'
