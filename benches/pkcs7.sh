#!/usr/bin/env bash
# Benchmark: `eyaml-gpg decrypt -e` of a file with 500 PKCS7 values against Ruby
# `eyaml decrypt -e` (hiera-eyaml 3.3, PKCS7 built in) on the same file, in the same run.
# The keys and the values come from Ruby `eyaml createkeys` / `eyaml encrypt`, so both tools
# read exactly what eyaml writes. Prints the median wall time of each and the ratio.
# Then the migration: a tree of FILES x PER_FILE (default 20 x 500 = 10 000) PKCS7 values moved
# to GPG by `eyaml-gpg recrypt -d gpg` (one recipient, bob's cv25519 key from the reference
# keys), against (a) Ruby `eyaml recrypt` run on every file of the same tree (PKCS7 to PKCS7:
# the same PKCS7 decryptions, a cheaper encryption; Ruby has no GPG here), and (b) the sum of
# one-value costs: one process per value and step, `eyaml-gpg decrypt -s` + `eyaml-gpg
# encrypt -s` for ours, `eyaml decrypt -s` + `gpg --encrypt` for the Ruby tool's model,
# measured on SAMPLE values and multiplied out. MIGRATE=0 skips it.
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
KEYS=$PWD/fixtures/reference/keys
WORK=$(mktemp -d)
export GNUPGHOME=$WORK/gnupg
trap 'gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null || true; rm -rf "$WORK"' EXIT
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

[ "${MIGRATE:-1}" = 0 ] && exit 0
FILES=${FILES:-20}
PER_FILE=${PER_FILE:-500}
SAMPLE=${SAMPLE:-5}
TOTAL=$((FILES * PER_FILE))
mkdir -p tree src
echo bob@example.com > tree/hiera-eyaml-gpg.recipients
for f in $(seq 1 "$FILES"); do
  for i in $(seq 1 "$PER_FILE"); do echo "f${f}::key$i: DEC::PKCS7[secret $f/$i]!"; done > "src/f$f.eyaml"
  "$BIN" encrypt -e "src/f$f.eyaml" > "tree/f$f.eyaml"
done
[ "$(cat tree/*.eyaml | grep -c 'ENC\[PKCS7,')" = "$TOTAL" ] || { echo "tree setup failed" >&2; exit 1; }
cp -r tree ruby-tree
G=(--gpg-keyring "$KEYS/bob.sec.asc")

# Ours, the whole tree; its CPU time (user + sys) from bash's `time`.
TIMEFORMAT='%U %S'
t=$(now)
{ time "$BIN" "${G[@]}" recrypt -d gpg tree 2>recrypt.log; } 2>cpu.txt
ours_mig=$(( $(now) - t ))
ours_cpu=$(awk '{print $1 + $2}' cpu.txt)
[ "$(cat tree/*.eyaml | grep -c 'ENC\[GPG,')" = "$TOTAL" ] || { echo "migration incomplete" >&2; exit 1; }

# Ruby, file by file (its recrypt takes one file).
t=$(now)
for f in ruby-tree/*.eyaml; do eyaml recrypt "$f" >/dev/null; done
ruby_mig=$(( $(now) - t ))

# One-value costs on a sample.
one=$(grep -m1 -o 'ENC\[PKCS7,[^]]*\]' ruby-tree/f1.eyaml)
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import "$KEYS/bob.pub.asc" 2>/dev/null
ours1=(); ruby1=()
for _ in $(seq 1 "$SAMPLE"); do
  t=$(now)
  p=$("$BIN" decrypt -s "$one")
  "$BIN" "${G[@]}" --gpg-always-trust encrypt --gpg-recipients bob@example.com -o string -s "$p" >/dev/null
  ours1+=($(( $(now) - t )))
  t=$(now)
  p=$(eyaml decrypt -s "$one")
  printf '%s' "$p" | gpg --batch --quiet --trust-model always -e -r bob@example.com >/dev/null
  ruby1+=($(( $(now) - t )))
done
o1=$(printf '%s\n' "${ours1[@]}" | median)
r1=$(printf '%s\n' "${ruby1[@]}" | median)
ms() { printf '%10.1f ms' "$(echo "$1 / 1000000" | bc -l)"; }
echo "migration PKCS7 -> GPG of $TOTAL values in $FILES files, one run; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "eyaml-gpg recrypt -d gpg (tree):      $(ms "$ours_mig")  (CPU $(printf '%.1f' "$ours_cpu") s on $(nproc) cores)"
echo "Ruby eyaml recrypt, file by file:     $(ms "$ruby_mig")"
echo "sum of one-value costs, eyaml-gpg:    $(ms $(( o1 * TOTAL )))  ($(ms "$o1") per value, median of $SAMPLE)"
echo "sum of one-value costs, eyaml + gpg:  $(ms $(( r1 * TOTAL )))  ($(ms "$r1") per value, median of $SAMPLE)"
printf 'ratio (Ruby recrypt / ours): %.1fx; (one-value sum eyaml + gpg / ours): %.0fx\n' \
  "$(echo "$ruby_mig / $ours_mig" | bc -l)" "$(echo "$r1 * $TOTAL / $ours_mig" | bc -l)"
