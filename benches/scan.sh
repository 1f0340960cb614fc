#!/usr/bin/env bash
# Benchmark: the token scan is linear in its input. `encrypt -e` and `check` of a file holding
# N unterminated `DEC::GPG[` markers (issue 17, item 4: 100 000 of them took 189 s and 194 s
# when every marker searched the rest of the file for its `]!`), for N = 10k, 100k and 1M,
# next to `wc -l` of the same file as the linear peer. Linear scanning shows as a per-marker
# time that stays flat while N grows tenfold.
#
# Usage: benches/scan.sh [RUNS]   (run from the repository root; builds the release binary
#        unless BIN names a binary to measure)
set -euo pipefail
RUNS=${1:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${BIN:-}" ]; then
  cargo build -q --release --manifest-path "$ROOT/Cargo.toml"
  BIN=$ROOT/target/release/eyaml-gpg
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
. "$ROOT/benches/lib.sh"

time_ms() { # command...: median wall time of RUNS runs, in ms
  for _ in $(seq "$RUNS"); do
    t0=$(now); "$@" >/dev/null 2>&1 || true; t1=$(now)
    echo $(((t1 - t0) / 1000000))
  done | median
}

printf '%-9s %10s %12s %12s %10s %16s\n' markers bytes "encrypt -e" check "wc -l" "encrypt ns/marker"
for n in 10000 100000 1000000; do
  f=$WORK/m$n.eyaml
  awk -v n="$n" 'BEGIN { print "a: |"; for (i = 0; i < n; i++) print "  DEC::GPG[" }' > "$f"
  enc=$(time_ms "$BIN" --gpg-keyring "$ROOT/fixtures/reference/keys/bob.pub.asc" \
    --gpg-recipients bob@example.com encrypt -e "$f")
  chk=$(time_ms "$BIN" check --skip stale-recipients --skip unknown-recipient "$f")
  wc=$(time_ms wc -l "$f")
  printf '%-9s %10s %10s ms %10s ms %7s ms %16s\n' "$n" "$(stat -c %s "$f")" "$enc" "$chk" "$wc" \
    $((enc * 1000000 / n))
done
echo "machine: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
