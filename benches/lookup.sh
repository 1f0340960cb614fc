#!/usr/bin/env bash
# Lookup of one key in a file of 10 000 encrypted values (load + parse + one decryption)
# against `decrypt -e` of the whole file, measured in the same run with the same binary and
# key (Bob's cv25519 key from the reference set). Prints medians and the ratio.
#   benches/lookup.sh [VALUES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
values=${1:-10000}
runs=${2:-5}
cargo build --release --quiet
bin=target/release/eyaml-gpg
keys=fixtures/reference/keys
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work GNUPGHOME=$work/no-gnupg-home

for ((i = 0; i < values; i++)); do
    echo "bench::key$i: DEC::GPG[secret number $i]!"
done > "$work/plain.eyaml"
"$bin" encrypt -e "$work/plain.eyaml" --gpg-keyring "$keys/bob.pub.asc" \
    --gpg-recipients bob@example.com > "$work/data.eyaml"
key="bench::key$((values / 2))"
echo "file: $values values, $(wc -c < "$work/data.eyaml") bytes; key $key"

# Median wall time in ms of running "$@" $runs times.
median_ms() {
    local times=()
    for ((r = 0; r < runs; r++)); do
        local t0 t1
        t0=$(date +%s%N)
        "$@" > /dev/null
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

expected="secret number $((values / 2))"
got=$("$bin" lookup "$key" "$work/data.eyaml" --gpg-keyring "$keys/bob.sec.asc" --format json)
[ "$got" = "\"$expected\"" ] || { echo "lookup returned $got, expected \"$expected\"" >&2; exit 1; }

lookup=$(median_ms "$bin" lookup "$key" "$work/data.eyaml" --gpg-keyring "$keys/bob.sec.asc")
decrypt=$(median_ms "$bin" decrypt -e "$work/data.eyaml" --gpg-keyring "$keys/bob.sec.asc")
echo "lookup one key:       ${lookup} ms (median of $runs)"
echo "decrypt -e whole file: ${decrypt} ms (median of $runs)"
awk -v a="$lookup" -v b="$decrypt" 'BEGIN { if (a > 0) printf "decrypt -e / lookup: %.1fx\n", b / a; else print "lookup under 1 ms" }'
