#!/usr/bin/env bash
# Benchmark: `eyaml-gpg check` of a generated tree of 10 000 values (100 files x 100 values,
# encrypted to Bob (cv25519) and the puppet master (rsa2048)) with public keys only, against
# the time to merely read the same files (`cat` and `wc -l`). Target: check under 1 s on 2 cores.
#
# Usage: benches/check.sh [RUNS]   (run from the repository root; builds the release binary)
set -euo pipefail
RUNS=${1:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KEYS=$ROOT/fixtures/reference/keys
cargo build -q --release --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/eyaml-gpg
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TREE=$WORK/hieradata
mkdir -p "$TREE"
printf '617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1\n211945E86F4141A36AC356155D15F4FAFD07824A\n' \
  > "$TREE/hiera-eyaml-gpg.recipients"

# One edit-mode file of 10 000 DEC markers, encrypted in one `encrypt -e` run, then split.
awk 'BEGIN { print "---"; for (i = 0; i < 10000; i++) printf "bench::value_%05d: DEC::GPG[secret number %d]!\n", i, i }' \
  > "$TREE/all.eyaml"
start=$(date +%s.%N)
(cd "$TREE" && "$BIN" encrypt -e all.eyaml --gpg-keyring "$KEYS/bob.pub.asc" \
  --gpg-keyring "$KEYS/puppetmaster.pub.asc" > all.enc)
end=$(date +%s.%N)
echo "generated 10000 values with one encrypt -e in $(echo "$end - $start" | bc) s"
tail -n +2 "$TREE/all.enc" | split -l 100 -d -a 3 - "$TREE/part-"
for f in "$TREE"/part-*; do
  n=${f##*-}; d=$TREE/dir-$(( 10#$n / 10 ))
  mkdir -p "$d"
  { echo "---"; cat "$f"; } > "$d/${f##*/}.eyaml"
  rm "$f"
done
rm "$TREE/all.eyaml" "$TREE/all.enc"
echo "tree: $(find "$TREE" -name '*.eyaml' | wc -l) files, $(cat "$TREE"/*/*.eyaml | grep -c 'ENC\[GPG,') values, $(du -sh "$TREE" | cut -f1)"

. "$ROOT/benches/lib.sh"
time_it() { # prints seconds of one run of "$@"
  local s e
  s=$(date +%s.%N); "$@" > /dev/null 2>&1 || true; e=$(date +%s.%N)
  echo "$e - $s" | bc
}
read_files() { find "$TREE" -name '*.eyaml' -print0 | xargs -0 cat > /dev/null; }
count_lines() { find "$TREE" -name '*.eyaml' -print0 | xargs -0 wc -l > /dev/null; }
run_check() { "$BIN" check "$TREE" --gpg-keyring "$KEYS/bob.pub.asc" --gpg-keyring "$KEYS/puppetmaster.pub.asc"; }

run_check > "$WORK/out.txt" 2>&1 && rc=0 || rc=$?
echo "check exit status: $rc (0 = clean), findings: $(wc -l < "$WORK/out.txt") line(s) of output"

c=$(for _ in $(seq "$RUNS"); do time_it run_check; done | median)
r=$(for _ in $(seq "$RUNS"); do time_it read_files; done | median)
w=$(for _ in $(seq "$RUNS"); do time_it count_lines; done | median)
printf 'median of %s runs:\n' "$RUNS"
printf '  eyaml-gpg check (public keys only): %.3f s\n' "$c"
printf '  cat of every file:                  %.3f s  (check / cat = %.1fx)\n' "$r" "$(echo "$c / $r" | bc -l)"
printf '  wc -l of every file:                %.3f s  (check / wc = %.1fx)\n' "$w" "$(echo "$c / $w" | bc -l)"
if (( $(echo "$c < 1" | bc) )); then echo "target met: under 1 s"; else echo "target MISSED: 1 s"; fi
