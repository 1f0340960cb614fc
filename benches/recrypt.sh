#!/usr/bin/env bash
# Benchmark of `eyaml-gpg recrypt` on a generated tree (default 200 files x 50 values = 10 000
# values, 5 recipients: alice rsa3072 and bob cv25519 from the reference keys, plus carol
# rsa3072, dave and erin cv25519 generated here), the secret key in a keyring file.
#
# The bound `recrypt --all` is compared with: the sum of one-value costs measured in this run
# by `examples/recrypt_cost.rs` (one in-process decryption + one encryption to the same 5
# recipients, single-threaded, over every value of the tree, as thread CPU time), divided by
# the number of cores (perfect parallelism, no start-up, no file walk, no inspection, no
# writing). That is the least any tool doing the same cryptography on this machine could
# take; the wall ratio shows what the walk, the inspection, the rendering, the atomic writes
# and imperfect scaling cost. Wall time is only fair on an otherwise idle machine, so the
# CPU time of recrypt (user + sys) is also compared with the CPU sum: that ratio does not
# depend on what else runs.
# For scale, `gpg` run per value (the Ruby tool's model: one decrypt + one encrypt process)
# is measured on a sample and extrapolated.
#
# Usage: benches/recrypt.sh            (SECRET=alice for an rsa3072 secret key instead of
#                                       bob's cv25519; FILES / PER_FILE / RUNS to resize;
#                                       KEEP=1 keeps the generated tree and keys)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FILES=${FILES:-200}
PER_FILE=${PER_FILE:-50}
RUNS=${RUNS:-3}
SECRET=${SECRET:-bob}
DIRS=10
KEYS=$ROOT/fixtures/reference/keys

cargo build -q --release --manifest-path "$ROOT/Cargo.toml" --bin eyaml-gpg --example recrypt_cost
BIN=$ROOT/target/release/eyaml-gpg
COST=$ROOT/target/release/examples/recrypt_cost

W=$(mktemp -d /tmp/eyaml-gpg-bench.XXXXXX)
export GNUPGHOME=$W/gnupg
cleanup() {
    gpgconf --homedir "$GNUPGHOME" --kill gpg-agent 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
mkdir -m 700 "$GNUPGHOME"
G() { gpg --batch --quiet --no-tty --pinentry-mode loopback --passphrase '' "$@"; }

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
fmt() { printf '%.3f' "$1"; }

echo "== keys"
G --import "$KEYS/alice.sec.asc" "$KEYS/bob.sec.asc" 2>/dev/null
G --quick-gen-key 'Carol Crypto <carol@example.com>' rsa3072 cert never
CAROL=$(G --with-colons --list-keys carol@example.com | awk -F: '$1 == "fpr" {print $10; exit}')
G --quick-add-key "$CAROL" rsa3072 encr never
G --quick-gen-key 'Dave Dev <dave@example.com>' future-default default never
G --quick-gen-key 'Erin Ops <erin@example.com>' future-default default never
G --export --armor > "$W/public.asc"
RECIPIENTS=alice@example.com,bob@example.com,carol@example.com,dave@example.com,erin@example.com
cp "$KEYS/$SECRET.sec.asc" "$W/secret.asc"
echo "5 recipients (2 rsa3072, 3 cv25519); secret key: $SECRET ($( [ "$SECRET" = bob ] && echo cv25519 || echo rsa3072 ))"

echo "== tree: $FILES files x $PER_FILE values in $DIRS directories"
T=$W/hieradata
for d in $(seq 1 $DIRS); do
    mkdir -p "$T/dir$d"
    printf '%s\n' alice@example.com bob@example.com carol@example.com dave@example.com erin@example.com \
        > "$T/dir$d/hiera-eyaml-gpg.recipients"
done
for f in $(seq 1 "$FILES"); do
    d=$(( (f - 1) % DIRS + 1 ))
    src=$T/dir$d/node$f.eyaml
    {
        echo "---"
        echo "# generated for the recrypt benchmark"
        for v in $(seq 1 "$PER_FILE"); do
            if (( v % 5 == 0 )); then
                printf 'node%d::block_%d: >\n    DEC::GPG[block secret %d of file %d, a little longer than the others]!\n' "$f" "$v" "$v" "$f"
            else
                printf 'node%d::secret_%d: DEC::GPG[secret-%d-%d-%s]!\n' "$f" "$v" "$f" "$v" "$(printf '%08x' $((f * 1000 + v)))"
            fi
            echo "node$f::plain_$v: value $v"
        done
    } > "$src"
    "$BIN" encrypt --gpg-keyring "$W/public.asc" -e "$src" > "$src.tmp"
    mv "$src.tmp" "$src"
done
VALUES=$(grep -c 'ENC\[GPG,' $(find "$T" -name '*.eyaml') | awk -F: '{s+=$2} END {print s}')
echo "$VALUES values"
CORES=$(nproc)

K=(--gpg-keyring "$W/public.asc" --gpg-keyring "$W/secret.asc")

echo "== bound: one decryption + one encryption per value, in process, single-threaded"
BOUND_LINE=$("$COST" "$W/public.asc" "$W/secret.asc" -- "$RECIPIENTS" $(find "$T" -name '*.eyaml' | sort))
echo "$BOUND_LINE"
SUM_MS=$(echo "$BOUND_LINE" | sed 's/.*cpu_ms=\([0-9.]*\).*/\1/')
SUM_S=$(echo "$SUM_MS / 1000" | bc -l)
BOUND_S=$(echo "$SUM_S / $CORES" | bc -l)

echo "== recrypt --all ($RUNS runs; wall and CPU seconds)"
TIMEFORMAT='%R %U %S'
walls=()
cpus=()
for _ in $(seq 1 "$RUNS"); do
    { time "$BIN" "${K[@]}" -q recrypt --all "$T" ; } 2> "$W/time"
    read -r real user sys < "$W/time"
    walls+=("$real")
    cpus+=("$(echo "$user + $sys" | bc -l)")
done
ALL_S=$(printf '%s\n' "${walls[@]}" | median)
ALL_CPU=$(printf '%s\n' "${cpus[@]}" | median)
echo "wall: ${walls[*]}  cpu: ${cpus[*]}"

echo "== dry run after erin leaves every recipients file ($RUNS runs)"
for d in $(seq 1 $DIRS); do sed -i '/erin@example.com/d' "$T/dir$d/hiera-eyaml-gpg.recipients"; done
times=()
for _ in $(seq 1 "$RUNS"); do
    t0=$(now)
    set +e
    "$BIN" --gpg-keyring "$W/public.asc" -q recrypt --dry-run --format json "$T" > "$W/dry.json"
    rc=$?
    set -e
    times+=("$(elapsed "$t0")")
    [ "$rc" = 1 ] || { echo "dry run exit $rc, expected 1" >&2; exit 1; }
done
DRY_S=$(printf '%s\n' "${times[@]}" | median)
STALE=$(grep -o '"stale": [0-9]*' "$W/dry.json" | tail -1 | awk '{print $2}')
echo "runs: ${times[*]} ($STALE values reported stale)"

echo "== minimal recrypt: erin leaves one directory only"
for d in $(seq 1 $DIRS); do echo erin@example.com >> "$T/dir$d/hiera-eyaml-gpg.recipients"; done
"$BIN" "${K[@]}" -q recrypt "$T"
sed -i '/erin@example.com/d' "$T/dir1/hiera-eyaml-gpg.recipients"
t0=$(now)
"$BIN" "${K[@]}" recrypt "$T"
ONE_DIR_S=$(elapsed "$t0")

echo "== peer: gpg processes per value (decrypt + encrypt to 5), 20-value sample"
for i in $(seq 1 20); do
    grep -o 'ENC\[GPG,[^]]*\]' "$T/dir1/node1.eyaml" | sed -n "${i}p" | sed 's/^ENC\[GPG,//; s/\]$//' | base64 -d > "$W/v$i.gpg"
done
t0=$(now)
for i in $(seq 1 20); do
    gpg --batch --quiet --no-tty --decrypt "$W/v$i.gpg" 2>/dev/null |
        gpg --batch --quiet --no-tty --trust-model always --encrypt \
            $(printf -- '-r %s ' ${RECIPIENTS//,/ }) > /dev/null
done
GPG_PER=$(echo "$(elapsed "$t0") / 20" | bc -l)
GPG_TREE=$(echo "$GPG_PER * $VALUES" | bc -l)

echo
echo "== results ($CORES cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $VALUES values, $FILES files, secret key $SECRET)"
echo "one-value cost (decrypt + encrypt to 5)  $(fmt "$(echo "$SUM_MS / $VALUES" | bc -l)") ms CPU"
echo "sum of one-value costs (CPU)             $(fmt "$SUM_S") s"
echo "bound = sum / $CORES cores                    $(fmt "$BOUND_S") s"
echo "recrypt --all, wall (median)             $(fmt "$ALL_S") s   = $(fmt "$(echo "$ALL_S / $BOUND_S" | bc -l)") x bound (target <= 1.5; needs an idle machine)"
echo "recrypt --all, CPU user+sys (median)     $(fmt "$ALL_CPU") s   = $(fmt "$(echo "$ALL_CPU / $SUM_S" | bc -l)") x the sum (the tool's own overhead, load-independent)"
echo "parallelism achieved (CPU / wall)        $(fmt "$(echo "$ALL_CPU / $ALL_S" | bc -l)") of $CORES cores"
echo "dry run, all $STALE values stale (median)  $(fmt "$DRY_S") s   (target < 1 s)"
echo "recrypt of one stale directory           $(fmt "$ONE_DIR_S") s"
echo "gpg per value (Ruby's model)             $(fmt "$(echo "$GPG_PER * 1000" | bc -l)") ms/value -> $(fmt "$GPG_TREE") s for the tree = $(fmt "$(echo "$GPG_TREE / $ALL_S" | bc -l)") x recrypt --all"
