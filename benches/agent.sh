#!/usr/bin/env bash
# Benchmark: `eyaml-gpg decrypt -e` of a 500-value file with the secret key held by gpg-agent
# (no --gpg-keyring: keys come from the GnuPG home) against the Ruby tool's strategy,
# `gpg --decrypt` run once per value, on the same data in the same run. Keys: cv25519 and
# rsa3072 without passphrase, and a passphrase-protected cv25519 key whose passphrase is typed
# into a scripted pinentry (the agent is restarted first, so nothing is cached). For the
# protected key the gpg loop costs one S2K per value (~0.1-0.7 s), so it runs over the first
# PEER_PROTECTED values and is scaled to 500 (printed as such).
# Usage: benches/agent.sh [runs] (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
N=500
PEER_PROTECTED=${PEER_PROTECTED:-25}
cargo build --release -q
BIN=$PWD/target/release/eyaml-gpg
KEYS=$PWD/fixtures/reference/keys
WORK=$(mktemp -d)
HOMES=()
cleanup() {
  for h in "${HOMES[@]}"; do gpgconf --homedir "$h" --kill gpg-agent >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

. benches/lib.sh

# A home holding one secret key; protected homes get a passphrase and a scripted pinentry
# that logs each prompt.
make_home() { # name keyfile fingerprint protected
  local home=$WORK/$1
  mkdir -m 700 "$home"
  HOMES+=("$home")
  if [ "$4" = yes ]; then
    scripted_pinentry "$home"
    echo "pinentry-program $home/pinentry.sh" > "$home/gpg-agent.conf"
  fi
  gpg --homedir "$home" --batch -q --import "$KEYS/$2" 2>/dev/null
  if [ "$4" = yes ]; then
    gpg --homedir "$home" --batch -q --pinentry-mode loopback --passphrase 'bench passphrase' --passwd "$3"
  fi
}

make_home cv25519 bob.sec.asc 617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1 no
make_home rsa3072 alice.sec.asc AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28 no
make_home protected bob.sec.asc 617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1 yes

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(gpg --version | head -1)"
printf '%-20s %7s %14s %14s %8s %8s\n' key values eyaml-gpg_ms gpg_loop_ms ratio prompts
for spec in cv25519:bob rsa3072:alice protected:bob; do
  name=${spec%%:*}; who=${spec##*:}; home=$WORK/$name
  src=$WORK/$name.src; enc=$WORK/$name.eyaml
  { echo '---'; for i in $(seq 1 "$N"); do echo "key_$i: DEC::GPG[secret value number $i]!"; done; } > "$src"
  "$BIN" --gpg-keyring "$KEYS/$who.pub.asc" --gpg-recipients "$who@example.com" encrypt -e "$src" > "$enc"
  mkdir -p "$WORK/$name.msgs"
  i=0
  grep -o 'ENC\[GPG,[^]]*' "$enc" | cut -c9- | while read -r b64; do
    i=$((i+1)); echo "$b64" | base64 -d > "$WORK/$name.msgs/$(printf %04d "$i").gpg"
  done
  prompts=-
  if [ "$name" = protected ]; then
    ours=$(for r in $(seq 1 "$RUNS"); do
      gpgconf --homedir "$home" --kill gpg-agent; gpgconf --homedir "$home" --launch gpg-agent
      t0=$(now); "$BIN" --gpg-gnupghome "$home" decrypt -e "$enc" > /dev/null; t1=$(now)
      echo $(( (t1 - t0) / 1000 ))
    done | median)
    prompts=$(( $(wc -l < "$home/pinentry.log") / RUNS ))
    # gpg: one prompt (cached afterwards), then one S2K per value.
    gpgconf --homedir "$home" --kill gpg-agent
    t0=$(now)
    for f in $(ls "$WORK/$name.msgs"/*.gpg | head -n "$PEER_PROTECTED"); do
      gpg --homedir "$home" --batch -q -d "$f" > /dev/null 2>&1
    done
    t1=$(now)
    theirs=$(( (t1 - t0) / 1000 * N / PEER_PROTECTED ))
    name="protected cv25519"
  else
    # Start the agent once, outside the timing, for both tools.
    gpg --homedir "$home" --batch -q -d "$WORK/$name.msgs/0001.gpg" > /dev/null 2>&1
    ours=$(for r in $(seq 1 "$RUNS"); do
      t0=$(now); "$BIN" --gpg-gnupghome "$home" decrypt -e "$enc" > /dev/null; t1=$(now)
      echo $(( (t1 - t0) / 1000 ))
    done | median)
    t0=$(now)
    for f in "$WORK/$name.msgs"/*.gpg; do gpg --homedir "$home" --batch -q -d "$f" > /dev/null 2>&1; done
    t1=$(now)
    theirs=$(( (t1 - t0) / 1000 ))
  fi
  awk -v k="$name" -v n="$N" -v o="$ours" -v t="$theirs" -v p="$prompts" \
    'BEGIN { printf "%-20s %7d %14.1f %14.1f %7.1fx %8s\n", k, n, o/1000, t/1000, t/o, p }'
done
echo "(protected: gpg loop timed over the first $PEER_PROTECTED values and scaled to $N)"
