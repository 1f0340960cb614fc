#!/usr/bin/env bash
# Benchmark of `eyaml-gpg merge` (the git merge driver) on the everyday painful case: a file
# of 2 000 values (default), one branch re-encrypted it after adding a recipient (every
# ciphertext changed), the other edited 10 values. Peers, measured in the same run on the same
# three texts:
#  - `git merge-file` (plain git's line merge; it conflicts on this case, but it is the floor
#    for a merge driver's cost),
#  - the naive value-aware approach: `eyaml-gpg decrypt -e` of all three versions (three
#    processes, every value decrypted), before any merging is even done.
# The merge runs with bob's cv25519 secret key and the puppet master's public key in keyring
# files; the 10 edited values are decrypted and re-encrypted to the new recipients.
#
# Usage: benches/merge.sh      (VALUES / RUNS to resize; KEEP=1 keeps the files; PROFILE=dev
#                               times the debug build instead of the release build)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VALUES=${VALUES:-2000}
RUNS=${RUNS:-7}
KEYS=$ROOT/fixtures/reference/keys
. "$ROOT/benches/lib.sh"

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "${PROFILE:-release}" = dev ]; then
    cargo build -q --manifest-path "$ROOT/Cargo.toml" --bin eyaml-gpg
    BIN=$TARGET/debug/eyaml-gpg
else
    cargo build -q --release --manifest-path "$ROOT/Cargo.toml" --bin eyaml-gpg
    BIN=$TARGET/release/eyaml-gpg
fi
echo "binary: $BIN"

W=$(mktemp -d /tmp/eyaml-gpg-bench.XXXXXX)
cleanup() { if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi; }
trap cleanup EXIT
export GNUPGHOME=$W/no-gnupg-home HOME=$W EYAML_CONFIG=
K=(--gpg-keyring "$KEYS/bob.sec.asc" --gpg-keyring "$KEYS/puppetmaster.pub.asc")

echo "== $VALUES values, recipients bob (cv25519); one branch adds the puppet master (rsa) and recrypts, the other edits 10"
mkdir -p "$W/repo"
{
    echo "---"
    for v in $(seq 1 "$VALUES"); do
        if (( v % 10 == 0 )); then
            printf 'profile::secret_%d: >\n    DEC::GPG[block secret %d, a little longer than the others]!\n' "$v" "$v"
        else
            printf 'profile::secret_%d: DEC::GPG[secret-%d-%08x]!\n' "$v" "$v" $((v * 7919))
        fi
        (( v % 50 == 0 )) && printf 'profile::plain_%d: %d\n' "$v" "$v"
    done
} > "$W/base.src"
"$BIN" "${K[@]}" --gpg-recipients bob@example.com encrypt -e "$W/base.src" > "$W/base.eyaml"

printf 'bob@example.com\npuppetmaster\n' > "$W/repo/hiera-eyaml-gpg.recipients"
cp "$W/base.eyaml" "$W/repo/common.eyaml"
"$BIN" "${K[@]}" recrypt -q "$W/repo/common.eyaml" >/dev/null 2>&1 || "$BIN" "${K[@]}" recrypt "$W/repo/common.eyaml" >/dev/null
cp "$W/repo/common.eyaml" "$W/ours.eyaml"

cp "$W/base.eyaml" "$W/theirs.eyaml"
step=$((VALUES / 10))
for i in $(seq 1 10); do
    v=$(( (i - 1) * step + 3 ))
    new=$("$BIN" "${K[@]}" --gpg-recipients bob@example.com encrypt -o string -s "edited-$v")
    awk -v k="profile::secret_$v:" -v n="$new" '$1 == k {print k " " n; next} {print}' \
        "$W/theirs.eyaml" > "$W/theirs.tmp"
    mv "$W/theirs.tmp" "$W/theirs.eyaml"
done
echo "changed values: ours $(diff "$W/base.eyaml" "$W/ours.eyaml" | grep -c '^>' || true) lines, theirs $(diff "$W/base.eyaml" "$W/theirs.eyaml" | grep -c '^>' || true) lines"

run_merge() {
    cp "$W/ours.eyaml" "$W/result.eyaml"
    "$BIN" "${K[@]}" merge "$W/base.eyaml" "$W/result.eyaml" "$W/theirs.eyaml" "$W/repo/common.eyaml" 2>/dev/null
}
run_merge_file() {
    cp "$W/ours.eyaml" "$W/plain.eyaml"
    git merge-file -q "$W/plain.eyaml" "$W/base.eyaml" "$W/theirs.eyaml" || true
}
run_naive() {
    for f in base ours theirs; do
        "$BIN" "${K[@]}" decrypt -e "$W/$f.eyaml" > /dev/null
    done
}

run_merge
"$BIN" --gpg-keyring "$KEYS/puppetmaster.sec.asc" decrypt -e "$W/result.eyaml" | grep -c 'edited-' \
    | xargs -I{} echo "check: merge clean, {} edited values readable by the new recipient"
run_merge_file
echo "check: git merge-file leaves $(grep -c '^<<<<<<<' "$W/plain.eyaml" || true) conflicts"

time_ms() {
    for _ in $(seq 1 "$RUNS"); do
        t0=$(now); "$1"; t1=$(now)
        echo $(( (t1 - t0) / 1000000 ))
    done | median
}
M=$(time_ms run_merge)
G=$(time_ms run_merge_file)
N=$(time_ms run_naive)
echo "== median of $RUNS runs ($(nproc) cores, $(uname -m))"
echo "eyaml-gpg merge:                 ${M} ms"
echo "git merge-file:                  ${G} ms"
echo "decrypt -e of the three versions: ${N} ms"
echo "merge / git merge-file: $(echo "scale=1; $M / ($G + 0.5)" | bc -l)x   naive / merge: $(echo "scale=1; $N / ($M + 0.5)" | bc -l)x"
