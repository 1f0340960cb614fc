#!/usr/bin/env bash
# Benchmark: `eyaml-gpg exposure` over a generated git history of 200 commits touching a tree of
# 2 000 values (20 files x 100 values, encrypted to Bob (cv25519) and the puppet master
# (rsa2048)): each commit re-encrypts one file, commit 100 removes Bob everywhere. Timed against
# `git log -p` of the same files (the bound for merely reading that history), and `exposure`
# with secret keys (plaintexts compared) against public keys only.
#
# Usage: benches/exposure.sh [RUNS]   (run from the repository root; builds the release binary
# unless BIN names one)
set -euo pipefail
RUNS=${1:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KEYS=$ROOT/fixtures/reference/keys
if [ -z "${BIN:-}" ]; then
  cargo build -q --release --manifest-path "$ROOT/Cargo.toml"
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/eyaml-gpg
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REPO=$WORK/repo
TREE=$REPO/hieradata
mkdir -p "$TREE"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
BOB=617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1
PM=211945E86F4141A36AC356155D15F4FAFD07824A
PUB=(--gpg-keyring "$KEYS/bob.pub.asc" --gpg-keyring "$KEYS/puppetmaster.pub.asc")
SEC=(--gpg-keyring "$KEYS/bob.sec.asc" --gpg-keyring "$KEYS/puppetmaster.sec.asc")
printf '%s # Bob\n%s # puppetmaster\n' "$BOB" "$PM" > "$TREE/hiera-eyaml-gpg.recipients"

awk 'BEGIN { print "---"; for (i = 0; i < 2000; i++) printf "bench::value_%04d: DEC::GPG[secret number %d]!\n", i, i }' \
  > "$TREE/all.eyaml"
(cd "$TREE" && "$BIN" encrypt -e all.eyaml "${PUB[@]}" > all.enc)
tail -n +2 "$TREE/all.enc" | split -l 100 -d -a 2 - "$TREE/part-"
for f in "$TREE"/part-*; do
  { echo "---"; cat "$f"; } > "$TREE/${f##*/}.eyaml"
  rm "$f"
done
rm "$TREE/all.eyaml" "$TREE/all.enc"
cd "$REPO"
git init -q -b main
git add -A && git commit -q -m "2000 values"
start=$(date +%s)
for i in $(seq 1 199); do
  if [ "$i" = 100 ]; then
    "$BIN" keys rm "$BOB" --everywhere --recrypt "${SEC[@]}" -q
    git commit -q -am "Bob leaves"
    continue
  fi
  f=$(printf 'hieradata/part-%02d.eyaml' $(( i % 20 )))
  "$BIN" recrypt --all "$f" "${SEC[@]}" -q
  git commit -q -am "recrypt $f"
done
echo "history: $(git rev-list --count HEAD) commits, $(grep -c 'ENC\[GPG,' hieradata/*.eyaml | awk -F: '{s+=$2} END {print s}') values, made in $(( $(date +%s) - start )) s"

. "$ROOT/benches/lib.sh"
time_it() { # prints seconds of one run of "$@"
  local s e
  s=$(date +%s.%N); "$@" > /dev/null 2>&1 || true; e=$(date +%s.%N)
  echo "$e - $s" | bc
}
log_p() { git log -p -- hieradata; }
exposure_pub() { "$BIN" exposure "$BOB" hieradata "${PUB[@]}"; }
exposure_sec() { "$BIN" exposure "$BOB" hieradata "${SEC[@]}"; }
exposure_sec > "$WORK/out.txt" 2>&1 && rc=0 || rc=$?
echo "exposure exit status: $rc (1 = something exposed); $(grep -c '^  hieradata' "$WORK/out.txt") value(s) listed"

l=$(for _ in $(seq "$RUNS"); do time_it log_p; done | median)
p=$(for _ in $(seq "$RUNS"); do time_it exposure_pub; done | median)
s=$(for _ in $(seq "$RUNS"); do time_it exposure_sec; done | median)
printf 'median of %s runs (%s, %s cores):\n' "$RUNS" "$(uname -m)" "$(nproc)"
printf '  git log -p of the same files:           %.3f s\n' "$l"
printf '  eyaml-gpg exposure, public keys only:    %.3f s  (/ git log -p = %.2fx)\n' "$p" "$(echo "$p / $l" | bc -l)"
printf '  eyaml-gpg exposure, plaintexts compared: %.3f s  (/ git log -p = %.2fx)\n' "$s" "$(echo "$s / $l" | bc -l)"
