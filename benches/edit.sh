#!/usr/bin/env bash
# Benchmark: time from starting `eyaml-gpg edit` on a 500-value file to the editor being
# launched (the editor is a no-op script that notes the time), against what the Ruby tool
# does before launching its editor: one `gpg --decrypt` per value, on the same data in the
# same run. cv25519 (bob) and rsa3072 (alice) keys. Prints medians and ratios.
# Usage: benches/edit.sh [runs] [values]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
N=${2:-500}
cargo build --release -q
BIN=$PWD/target/release/eyaml-gpg
KEYS=$PWD/fixtures/reference/keys
WORK=$(mktemp -d)
export GNUPGHOME=$WORK/gnupg
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
mkdir -m 700 "$GNUPGHOME" "$WORK/run"
gpg --batch -q --import "$KEYS"/alice.sec.asc "$KEYS"/bob.sec.asc 2>/dev/null

. benches/lib.sh

# The no-op editor: records when it was launched.
cat > "$WORK/editor" <<'EOF'
#!/bin/sh
date +%s%N > "$EDIT_BENCH_STAMP"
EOF
chmod +x "$WORK/editor"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(gpg --version | head -1)"
printf '%-8s %7s %22s %14s %8s\n' key values eyaml-gpg_to_editor_ms gpg_loop_ms ratio
for key in bob:cv25519 alice:rsa3072; do
  who=${key%%:*}; algo=${key##*:}
  src=$WORK/$who.src; enc=$WORK/$who.eyaml
  { echo '---'; for i in $(seq 1 "$N"); do echo "key_$i: DEC::GPG[secret value number $i]!"; done; } > "$src"
  "$BIN" --gpg-keyring "$KEYS/$who.pub.asc" --gpg-recipients "$who@example.com" encrypt -e "$src" > "$enc"
  mkdir -p "$WORK/$who.msgs"
  i=0
  grep -o 'ENC\[GPG,[^]]*' "$enc" | cut -c9- | while read -r b64; do
    i=$((i+1)); echo "$b64" | base64 -d > "$WORK/$who.msgs/$i.gpg"
  done
  gpg --batch -q -d "$WORK/$who.msgs/1.gpg" >/dev/null 2>&1 # start the agent once, outside the timing
  ours=$(for r in $(seq 1 "$RUNS"); do
    t0=$(now)
    EDITOR=$WORK/editor EDIT_BENCH_STAMP=$WORK/stamp XDG_RUNTIME_DIR=$WORK/run \
      "$BIN" -q --gpg-keyring "$KEYS/$who.sec.asc" edit "$enc"
    t1=$(cat "$WORK/stamp")
    echo $(( (t1 - t0) / 1000 ))
  done | median)
  t0=$(now); for f in "$WORK/$who.msgs"/*.gpg; do gpg --batch -q -d "$f" > /dev/null 2>&1; done; t1=$(now)
  theirs=$(( (t1 - t0) / 1000 ))
  awk -v k="$algo" -v n="$N" -v o="$ours" -v t="$theirs" 'BEGIN { printf "%-8s %7d %22.1f %14.1f %7.1fx\n", k, n, o/1000, t/1000, t/o }'
done
