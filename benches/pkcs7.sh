#!/usr/bin/env bash
# Benchmark: `eyaml-gpg decrypt -e` of a file with 500 PKCS7 values against Ruby
# `eyaml decrypt -e` (hiera-eyaml 3.3, PKCS7 built in) on the same file, in the same run.
# The keys and the values come from Ruby `eyaml createkeys` / `eyaml encrypt`, so both tools
# read exactly what eyaml writes. Prints the median wall time of each and the ratio.
# Usage: benches/pkcs7.sh [runs] (default 3). PROFILE=debug uses the debug build (its
# dependencies are optimised; the crate itself is not) when a release build is too slow to make;
# SKIP_BUILD=1 uses the binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
N=${N:-500}
PROFILE=${PROFILE:-release}
if [ -z "${SKIP_BUILD:-}" ]; then
  if [ "$PROFILE" = release ]; then cargo build --release -q; else cargo build -q; fi
fi
BIN=${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE/eyaml-gpg
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
. benches/lib.sh

cd "$WORK"
export HOME=$WORK
eyaml createkeys >/dev/null 2>&1
# 500 values through one Ruby process: encrypt -e of a file of DEC::PKCS7 markers.
for i in $(seq 1 "$N"); do echo "key$i: DEC::PKCS7[secret value number $i]!"; done > dec.eyaml
eyaml encrypt -e dec.eyaml > values.eyaml
[ "$(grep -c 'ENC\[PKCS7,' values.eyaml)" = "$N" ] || { echo "setup failed" >&2; exit 1; }
"$BIN" decrypt -e values.eyaml | cmp - <(eyaml decrypt -e values.eyaml) \
  || { echo "outputs differ" >&2; exit 1; }

ours=() ; ruby=()
for _ in $(seq 1 "$RUNS"); do
  t=$(now); "$BIN" decrypt -e values.eyaml >/dev/null; ours+=($(( $(now) - t )))
  t=$(now); eyaml decrypt -e values.eyaml >/dev/null; ruby+=($(( $(now) - t )))
done
o=$(printf '%s\n' "${ours[@]}" | median)
r=$(printf '%s\n' "${ruby[@]}" | median)
echo "machine: $(nproc) cores, $(uname -m); $N PKCS7 values, median of $RUNS runs, $PROFILE build"
printf 'eyaml-gpg decrypt -e: %8.1f ms\n' "$(echo "$o / 1000000" | bc -l)"
printf 'Ruby eyaml decrypt -e: %7.1f ms\n' "$(echo "$r / 1000000" | bc -l)"
printf 'ratio (Ruby / ours): %.1fx\n' "$(echo "$r / $o" | bc -l)"
