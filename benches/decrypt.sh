#!/usr/bin/env bash
# Benchmark: `eyaml-gpg decrypt -e` of files with 10, 100 and 500 values (cv25519 and rsa3072
# keys) against the Ruby tool's strategy, `gpg --decrypt` run once per value, on the same data
# in the same run. Prints medians and ratios. Usage: benches/decrypt.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
cargo build --release -q
BIN=$PWD/target/release/eyaml-gpg
KEYS=$PWD/fixtures/reference/keys
WORK=$(mktemp -d)
export GNUPGHOME=$WORK/gnupg
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
mkdir -m 700 "$GNUPGHOME"
gpg --batch -q --import "$KEYS"/alice.sec.asc "$KEYS"/bob.sec.asc 2>/dev/null

. benches/lib.sh

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(gpg --version | head -1)"
printf '%-8s %7s %14s %14s %8s\n' key values eyaml-gpg_ms gpg_loop_ms ratio
for key in bob:cv25519 alice:rsa3072; do
  who=${key%%:*}; algo=${key##*:}
  for n in 10 100 500; do
    src=$WORK/$who-$n.src; enc=$WORK/$who-$n.eyaml
    { echo '---'; for i in $(seq 1 "$n"); do echo "key_$i: DEC::GPG[secret value number $i]!"; done; } > "$src"
    "$BIN" --gpg-keyring "$KEYS/$who.pub.asc" --gpg-recipients "$who@example.com" encrypt -e "$src" > "$enc"
    mkdir -p "$WORK/$who-$n.msgs"
    i=0
    grep -o 'ENC\[GPG,[^]]*' "$enc" | cut -c9- | while read -r b64; do
      i=$((i+1)); echo "$b64" | base64 -d > "$WORK/$who-$n.msgs/$i.gpg"
    done
    gpg --batch -q -d "$WORK/$who-$n.msgs/1.gpg" >/dev/null 2>&1 # start the agent once, outside the timing
    ours=$(for r in $(seq 1 "$RUNS"); do
      t0=$(now); "$BIN" --gpg-keyring "$KEYS/$who.sec.asc" decrypt -e "$enc" > /dev/null; t1=$(now)
      echo $(( (t1 - t0) / 1000 ))
    done | median)
    peer_runs=$(( n >= 500 ? 1 : RUNS ))
    theirs=$(for r in $(seq 1 "$peer_runs"); do
      t0=$(now); for f in "$WORK/$who-$n.msgs"/*.gpg; do gpg --batch -q -d "$f" > /dev/null 2>&1; done; t1=$(now)
      echo $(( (t1 - t0) / 1000 ))
    done | median)
    awk -v k="$algo" -v n="$n" -v o="$ours" -v t="$theirs" 'BEGIN { printf "%-8s %7d %14.1f %14.1f %7.1fx\n", k, n, o/1000, t/1000, t/o }'
  done
done
