#!/usr/bin/env bash
# Every headline figure against its peer, in one run, as one Markdown table of ratios with the
# machine and the load average (figures from one run on a shared machine are only comparable
# as ratios against a peer measured in the same run):
#  - decrypt -e of cv25519 values (key file) vs `gpg --decrypt` per value (the Ruby plugin's
#    strategy), and its CPU per value vs one X25519 operation (`openssl speed ecdhx25519`);
#  - the same for rsa3072 vs `gpg` and `openssl speed rsa3072`;
#  - PKCS7 decrypt -e vs Ruby `eyaml decrypt -e` (hiera-eyaml 3.3; its GPG plugin is not
#    packaged, so GPG has no live Ruby peer: `gpg` per value stands for it);
#  - recrypt --all of a tree vs `gpg --decrypt | gpg --encrypt` per value;
#  - a passphrase-protected key through gpg-agent (one prompt; and preset, none) vs the same
#    key unprotected in a key file, and vs `gpg --decrypt` per value with the passphrase cached;
#  - merge (the git merge driver) vs `git merge-file`;
#  - lookup --hiera vs `puppet lookup` (benches/hiera.sh);
#  - check of a tree vs `cat` of its files.
# Peers that cost seconds per value are timed on a sample and multiplied out (said in the row).
#
# Usage: benches/all.sh [--quick] [--update-readme] [--bin PATH]
#   --quick          smaller inputs and one run each (a smoke run, figures only indicative)
#   --update-readme  write the table into README.md between <!-- bench:begin --> and
#                    <!-- bench:end -->
#   --bin PATH       time this binary instead of building the release binary
# The release binary is built in RELEASE_TARGET (default: CARGO_TARGET_DIR, else target/) and
# copied before timing, so a concurrent build cannot replace it mid-run.
set -euo pipefail
trap 'echo "all.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/benches/lib.sh"

QUICK=0
UPDATE=0
BIN_ARG=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --update-readme) UPDATE=1 ;;
    --bin) BIN_ARG=${2:?--bin needs a path}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "all.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$UPDATE" = 1 ] && ! grep -q '<!-- bench:begin -->' "$ROOT/README.md"; then
  echo "all.sh: README.md has no <!-- bench:begin --> marker" >&2
  exit 2
fi

if [ "$QUICK" = 1 ]; then
  N_CV=200 N_RSA=40 N_PKCS7=40 N_AGENT=100 SAMPLE=5 RUNS=1
  RECRYPT_FILES=4 MERGE_VALUES=200 CHECK_FILES=10 HIERA_KEYS=5 HIERA_CLI=1
else
  N_CV=2000 N_RSA=500 N_PKCS7=500 N_AGENT=500 SAMPLE=20 RUNS=3
  RECRYPT_FILES=20 MERGE_VALUES=2000 CHECK_FILES=100 HIERA_KEYS=20 HIERA_CLI=3
fi
KEYS=$ROOT/fixtures/reference/keys
W=$(mktemp -d /tmp/eyaml-gpg-all.XXXXXX)
HOMES=()
cleanup() {
  for h in "${HOMES[@]}"; do gpgconf --homedir "$h" --kill gpg-agent > /dev/null 2>&1 || true; done
  rm -rf "$W"
}
trap cleanup EXIT

if [ -n "$BIN_ARG" ]; then
  cp "$BIN_ARG" "$W/eyaml-gpg"
else
  T=${RELEASE_TARGET:-${CARGO_TARGET_DIR:-$ROOT/target}}
  CARGO_TARGET_DIR=$T cargo build -q --release --manifest-path "$ROOT/Cargo.toml" --bin eyaml-gpg
  cp "$T/release/eyaml-gpg" "$W/eyaml-gpg"
fi
BIN=$W/eyaml-gpg
# No user config for either tool (Ruby eyaml reads EYAML_CONFIG too, and fails on an empty one).
export HOME=$W GNUPGHOME=$W/no-gnupg-home LC_ALL=C.UTF-8
unset EYAML_CONFIG
LOAD_START=$(load)
ROWS=()
say() { echo "== $*" >&2; }

# --- helpers -----------------------------------------------------------------------------------
has() { command -v "$1" > /dev/null 2>&1; }
# "wall cpu": the median wall and the median CPU seconds of RUNS runs of "$@".
timed() {
  local walls=() cpus=() r
  for _ in $(seq 1 "$RUNS"); do
    r=$(wall_cpu "$@")
    walls+=("${r% *}")
    cpus+=("${r#* }")
  done
  echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median)"
}
# The median wall seconds alone.
wall_of() { timed "$@" | cut -d' ' -f1; }
# A duration in seconds, readable: 12.3 s, 456 ms, 7.8 ms.
dur() { awk -v s="$1" 'BEGIN { if (s >= 10) printf "%.1f s", s; else if (s >= 1) printf "%.2f s", s; else if (s >= 0.01) printf "%.0f ms", s * 1000; else printf "%.1f ms", s * 1000 }'; }
# a / b with one decimal.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a > 0) printf "%.1f", a / b; else printf "n/a" }'; }
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 |"); echo "   $1: $2 | $3: $4 | $5" >&2; }
# An eyaml file of N values (DEC markers encrypted to WHO's public key): prints its path.
values() { # who n
  local src=$W/$1-$2.src enc=$W/$1-$2.eyaml
  if [ ! -f "$enc" ]; then
    { echo '---'; for i in $(seq 1 "$2"); do echo "key_$i: DEC::GPG[secret value number $i]!"; done; } > "$src"
    "$BIN" --gpg-keyring "$KEYS/$1.pub.asc" --gpg-recipients "$1@example.com" encrypt -e "$src" > "$enc"
  fi
  echo "$enc"
}
# The first COUNT values of an eyaml file as binary OpenGPG messages in DIR.
messages() { # enc dir count
  mkdir -p "$2"
  local i=0
  # sed, not head: head's early exit would fail the pipeline (pipefail).
  grep -o 'ENC\[GPG,[^]]*' "$1" | cut -c9- | sed -n "1,${3}p" | while read -r b64; do
    i=$((i + 1)); echo "$b64" | base64 -d > "$2/$(printf %04d "$i").gpg"
  done
}
# A GnuPG home holding KEYFILES (imported), its agent stopped at exit.
gpg_home() { # name keyfiles...
  local home=$W/$1; shift
  mkdir -m 700 "$home"
  HOMES+=("$home")
  gpg --homedir "$home" --batch -q --import "$@" 2> /dev/null
  echo "$home"
}
# Seconds per value of `gpg --decrypt` in HOME over the messages in DIR (agent warmed first).
gpg_per_value() { # home dir
  local files=("$2"/*.gpg) t0 t1
  gpg --homedir "$1" --batch -q -d "${files[0]}" > /dev/null 2>&1
  t0=$(now)
  for f in "${files[@]}"; do gpg --homedir "$1" --batch -q -d "$f" > /dev/null 2>&1; done
  t1=$(now)
  awk -v ns=$((t1 - t0)) -v n=${#files[@]} 'BEGIN { printf "%.6f\n", ns / 1e9 / n }'
}

# --- cv25519 and rsa3072, key file vs gpg per value and the openssl floor ----------------------
decrypt_rows() { # who algo n floor_us floor_name
  local who=$1 algo=$2 n=$3 enc wall cpu per home
  say "decrypt -e, $n $algo values"
  enc=$(values "$who" "$n")
  read -r wall cpu < <(timed "$BIN" --gpg-keyring "$KEYS/$who.sec.asc" decrypt -e "$enc")
  home=$(gpg_home "gpg-$algo" "$KEYS/$who.sec.asc")
  messages "$enc" "$W/$algo.msgs" "$SAMPLE"
  per=$(gpg_per_value "$home" "$W/$algo.msgs")
  local theirs
  theirs=$(awk -v p="$per" -v n="$n" 'BEGIN { print p * n }')
  row "\`decrypt -e\`, $n $algo values (key file)" "$(dur "$wall")" \
    "\`gpg --decrypt\` per value ($SAMPLE timed, × $n)" "$(dur "$theirs")" "**$(ratio "$theirs" "$wall")×** faster"
  if [ -n "$4" ]; then
    local us
    us=$(awk -v c="$cpu" -v n="$n" 'BEGIN { printf "%.0f", c * 1e6 / n }')
    row "CPU per $algo value (whole process / $n)" "$us µs" "$5" "$4 µs" "$(ratio "$us" "$4")× the floor"
  fi
}
FLOOR_X=$(has openssl && x25519_us 2 || true)
FLOOR_RSA=$(has openssl && rsa3072_us 2 || true)
decrypt_rows bob cv25519 "$N_CV" "$FLOOR_X" "one X25519 (\`openssl speed ecdhx25519\`)"
decrypt_rows alice rsa3072 "$N_RSA" "$FLOOR_RSA" "one RSA-3072 private-key op (\`openssl speed rsa3072\`)"

# --- PKCS7 vs Ruby eyaml ---------------------------------------------------------------------
if has eyaml; then
  say "PKCS7, $N_PKCS7 values vs Ruby eyaml"
  mkdir -p "$W/pkcs7"
  (
    cd "$W/pkcs7"
    eyaml createkeys > /dev/null 2>&1
    for i in $(seq 1 "$N_PKCS7"); do echo "key$i: DEC::PKCS7[secret value number $i]!"; done > dec.eyaml
    eyaml encrypt -e dec.eyaml > values.eyaml
    "$BIN" decrypt -e values.eyaml | cmp -s - <(eyaml decrypt -e values.eyaml) \
      || { echo "all.sh: PKCS7 outputs differ" >&2; exit 1; }
    ours=$(wall_of "$BIN" decrypt -e values.eyaml)
    ruby=$(wall_of eyaml decrypt -e values.eyaml)
    echo "$ours $ruby" > times
  )
  read -r ours ruby < "$W/pkcs7/times"
  row "\`decrypt -e\`, $N_PKCS7 PKCS7 values" "$(dur "$ours")" "Ruby \`eyaml decrypt -e\` ($(eyaml --version 2>/dev/null | grep -o '[0-9.]*' | head -1))" "$(dur "$ruby")" "**$(ratio "$ruby" "$ours")×** faster"
else
  row "\`decrypt -e\`, PKCS7 values" "–" "Ruby \`eyaml\`" "not installed" "skipped"
fi
row "GPG values through Ruby eyaml" "–" "hiera-eyaml-gpg" "not installed here" "no live Ruby peer: \`gpg\` per value (its strategy) stands in"

# --- recrypt ---------------------------------------------------------------------------------
say "recrypt --all, $RECRYPT_FILES files x 50 values, 2 recipients"
TREE=$W/recrypt
mkdir -p "$TREE"
printf 'alice@example.com\nbob@example.com\n' > "$TREE/hiera-eyaml-gpg.recipients"
RK=(--gpg-keyring "$KEYS/alice.pub.asc" --gpg-keyring "$KEYS/bob.sec.asc")
for f in $(seq 1 "$RECRYPT_FILES"); do
  for v in $(seq 1 50); do echo "node$f::secret_$v: DEC::GPG[secret $f/$v]!"; done > "$TREE/n$f.src"
  "$BIN" "${RK[@]}" encrypt -e "$TREE/n$f.src" > "$TREE/n$f.eyaml"
  rm "$TREE/n$f.src"
done
RVALUES=$((RECRYPT_FILES * 50))
wall=$(wall_of "$BIN" "${RK[@]}" -q recrypt --all "$TREE")
home=$(gpg_home gpg-recrypt "$KEYS/bob.sec.asc" "$KEYS/alice.pub.asc")
messages "$TREE/n1.eyaml" "$W/recrypt.msgs" "$SAMPLE"
gpg --homedir "$home" --batch -q -d "$W/recrypt.msgs/0001.gpg" > /dev/null 2>&1
t0=$(now)
for f in "$W/recrypt.msgs"/*.gpg; do
  gpg --homedir "$home" --batch -q -d "$f" 2> /dev/null \
    | gpg --homedir "$home" --batch -q --trust-model always -e -r alice@example.com -r bob@example.com > /dev/null
done
theirs=$(awk -v ns=$(($(now) - t0)) -v s="$SAMPLE" -v n="$RVALUES" 'BEGIN { print ns / 1e9 / s * n }')
row "\`recrypt --all\`, $RVALUES values in $RECRYPT_FILES files, 2 recipients" "$(dur "$wall")" \
  "\`gpg -d\` piped to \`gpg -e\`, per value ($SAMPLE timed, × $RVALUES)" "$(dur "$theirs")" "**$(ratio "$theirs" "$wall")×** faster"

# --- protected key through gpg-agent ---------------------------------------------------------
say "protected cv25519 key through gpg-agent, $N_AGENT values"
PH=$W/protected
mkdir -m 700 "$PH"
HOMES+=("$PH")
scripted_pinentry "$PH"
printf 'pinentry-program %s\nallow-preset-passphrase\n' "$PH/pinentry.sh" > "$PH/gpg-agent.conf"
gpg --homedir "$PH" --batch -q --import "$KEYS/bob.sec.asc" 2> /dev/null
gpg --homedir "$PH" --batch -q --pinentry-mode loopback --passphrase 'bench passphrase' \
  --passwd 617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1
BOB_GRIP=B75A5D025FE4FC474C3054196E60CED0C867B67C
enc=$(values bob "$N_AGENT")
one=$(values bob 1)
# Nothing cached: the agent restarted before each run (outside the timing).
fresh() {
  gpgconf --homedir "$PH" --kill gpg-agent
  gpgconf --homedir "$PH" --launch gpg-agent
}
agent_runs() { # file: median wall of RUNS fresh-agent runs
  local walls=()
  for _ in $(seq 1 "$RUNS"); do
    fresh
    walls+=("$(wall_cpu "$BIN" --gpg-gnupghome "$PH" decrypt -e "$1" | cut -d' ' -f1)")
  done
  printf '%s\n' "${walls[@]}" | median
}
prompt_count() { if [ -f "$PH/pinentry.log" ]; then wc -l < "$PH/pinentry.log"; else echo 0; fi; }
rm -f "$PH/pinentry.log"
prot=$(agent_runs "$enc")
prompts=$(($(prompt_count) / RUNS))
prot1=$(agent_runs "$one")
keyfile=$(wall_of "$BIN" --gpg-keyring "$KEYS/bob.sec.asc" decrypt -e "$enc")
keyfile1=$(wall_of "$BIN" --gpg-keyring "$KEYS/bob.sec.asc" decrypt -e "$one")
fresh
GNUPGHOME=$PH /usr/lib/gnupg/gpg-preset-passphrase --preset -P 'bench passphrase' "$BOB_GRIP"
rm -f "$PH/pinentry.log"
preset=$(wall_of "$BIN" --gpg-gnupghome "$PH" decrypt -e "$enc")
preset_prompts=$(prompt_count)
# gpg per value with the passphrase cached (preset): the agent derives the S2K every time.
PSAMPLE=$((SAMPLE < 5 ? SAMPLE : 5))
messages "$enc" "$W/protected.msgs" "$PSAMPLE"
per=$(gpg_per_value "$PH" "$W/protected.msgs")
theirs=$(awk -v p="$per" -v n="$N_AGENT" 'BEGIN { print p * n }')
beyond=$(awk -v a="$prot" -v a1="$prot1" -v k="$keyfile" -v k1="$keyfile1" \
  'BEGIN { if (k - k1 > 0.005) printf "%.1f", (a - a1) / (k - k1); else printf "n/a" }')
row "protected cv25519 key via gpg-agent, $N_AGENT values, $prompts prompt (agent restarted)" "$(dur "$prot")" \
  "same key unprotected, key file" "$(dur "$keyfile")" "$(ratio "$prot" "$keyfile")× (beyond the one unlock: ${beyond}×; 1 value: $(dur "$prot1") vs $(dur "$keyfile1"))"
row "protected key, passphrase preset, $N_AGENT values, $preset_prompts prompts" "$(dur "$preset")" \
  "same key unprotected, key file" "$(dur "$keyfile")" "$(ratio "$preset" "$keyfile")×"
row "protected key via gpg-agent, $N_AGENT values" "$(dur "$prot")" \
  "\`gpg --decrypt\` per value, passphrase cached ($PSAMPLE timed, × $N_AGENT)" "$(dur "$theirs")" "**$(ratio "$theirs" "$prot")×** faster"

# --- merge vs git merge-file -----------------------------------------------------------------
if has git; then
  say "merge, $MERGE_VALUES values"
  MK=(--gpg-keyring "$KEYS/bob.sec.asc" --gpg-keyring "$KEYS/puppetmaster.pub.asc")
  M=$W/merge
  mkdir -p "$M/repo"
  for v in $(seq 1 "$MERGE_VALUES"); do printf 'profile::secret_%d: DEC::GPG[secret-%d]!\n' "$v" "$v"; done > "$M/base.src"
  "$BIN" "${MK[@]}" --gpg-recipients bob@example.com encrypt -e "$M/base.src" > "$M/base.eyaml"
  printf 'bob@example.com\npuppetmaster\n' > "$M/repo/hiera-eyaml-gpg.recipients"
  cp "$M/base.eyaml" "$M/repo/common.eyaml"
  "$BIN" "${MK[@]}" -q recrypt "$M/repo/common.eyaml" > /dev/null 2>&1 || true
  cp "$M/repo/common.eyaml" "$M/ours.eyaml"
  cp "$M/base.eyaml" "$M/theirs.eyaml"
  for i in $(seq 1 10); do
    v=$(((i - 1) * (MERGE_VALUES / 10) + 1))
    new=$("$BIN" "${MK[@]}" --gpg-recipients bob@example.com encrypt -o string -s "edited-$v")
    awk -v k="profile::secret_$v:" -v n="$new" '$1 == k { print k " " n; next } { print }' "$M/theirs.eyaml" > "$M/t.tmp"
    mv "$M/t.tmp" "$M/theirs.eyaml"
  done
  run_merge() {
    cp "$M/ours.eyaml" "$M/result.eyaml"
    "$BIN" "${MK[@]}" merge "$M/base.eyaml" "$M/result.eyaml" "$M/theirs.eyaml" "$M/repo/common.eyaml"
  }
  run_merge_file() {
    cp "$M/ours.eyaml" "$M/plain.eyaml"
    git merge-file -q "$M/plain.eyaml" "$M/base.eyaml" "$M/theirs.eyaml" || true
  }
  run_merge > /dev/null 2>&1 || { echo "all.sh: merge failed" >&2; exit 1; }
  ours=$(wall_of run_merge)
  theirs=$(wall_of run_merge_file)
  row "\`merge\` (git driver), $MERGE_VALUES values: all re-encrypted vs 10 edited" "$(dur "$ours")" \
    "\`git merge-file\` (conflicts on this case)" "$(dur "$theirs")" "$(ratio "$ours" "$theirs")× its time (a clean merge)"
fi

# --- lookup --hiera vs puppet lookup (benches/hiera.sh) --------------------------------------
if has puppet && has ruby; then
  say "lookup --hiera vs puppet lookup (benches/hiera.sh $HIERA_KEYS $HIERA_CLI)"
  out=$(BIN=$BIN bash "$ROOT/benches/hiera.sh" "$HIERA_KEYS" "$HIERA_CLI")
  ours=$(sed -n 's/^eyaml-gpg lookup --hiera.* = \([0-9.]*\) ms per lookup$/\1/p' <<< "$out")
  theirs=$(sed -n 's/^puppet lookup, one process per key.* = \([0-9.]*\) ms per lookup$/\1/p' <<< "$out")
  row "\`lookup --hiera\`, one key per process (50 levels, 5 000 files)" "$(dur "$(awk -v m="$ours" 'BEGIN { print m / 1000 }')")" \
    "\`puppet lookup\` per key ($HIERA_CLI timed)" "$(dur "$(awk -v m="$theirs" 'BEGIN { print m / 1000 }')")" "**$(ratio "$theirs" "$ours")×** faster"
else
  row "\`lookup --hiera\`" "–" "\`puppet lookup\`" "not installed" "skipped"
fi

# --- check vs cat ----------------------------------------------------------------------------
say "check, $CHECK_FILES files x 100 values"
C=$W/check
mkdir -p "$C/tree"
printf '617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1\n' > "$C/tree/hiera-eyaml-gpg.recipients"
awk -v n=$((CHECK_FILES * 100)) 'BEGIN { print "---"; for (i = 0; i < n; i++) printf "bench::value_%05d: DEC::GPG[secret number %d]!\n", i, i }' > "$C/all.src"
"$BIN" --gpg-keyring "$KEYS/bob.pub.asc" --gpg-recipients bob@example.com encrypt -e "$C/all.src" | tail -n +2 \
  | split -l 100 -d -a 3 - "$C/part-"
for f in "$C"/part-*; do
  { echo "---"; cat "$f"; } > "$C/tree/${f##*/}.eyaml"
  rm "$f"
done
run_check() { "$BIN" check "$C/tree" --gpg-keyring "$KEYS/bob.pub.asc"; }
read_files() { find "$C/tree" -name '*.eyaml' -print0 | xargs -0 cat; }
run_check > /dev/null 2>&1 || { echo "all.sh: check found problems in the generated tree" >&2; exit 1; }
ours=$(wall_of run_check)
theirs=$(wall_of read_files)
row "\`check\` of $((CHECK_FILES * 100)) values in $CHECK_FILES files (public keys only)" "$(dur "$ours")" \
  "\`cat\` of every file" "$(dur "$theirs")" "$(ratio "$ours" "$theirs")× its time"

# --- the table -------------------------------------------------------------------------------
MODE=$([ "$QUICK" = 1 ] && echo "quick mode (small inputs, 1 run)" || echo "median of $RUNS runs")
TABLE=$(
  echo "Measured by \`benches/all.sh\` on $(date -u +%Y-%m-%d): $(machine); load average $LOAD_START at the start, $(load) at the end; release build; $MODE."
  echo
  echo "| Figure | eyaml-gpg | Peer | Peer's time | Ratio |"
  echo "|---|---:|---|---:|---|"
  printf '%s\n' "${ROWS[@]}"
)
echo "$TABLE"
if [ "$UPDATE" = 1 ]; then
  printf '%s\n' "$TABLE" > "$W/table.md"
  awk -v table="$W/table.md" '
    /<!-- bench:end -->/ { skip = 0 }
    !skip { print }
    /<!-- bench:begin -->/ { while ((getline l < table) > 0) print l; skip = 1 }
  ' "$ROOT/README.md" > "$W/README.md"
  cp "$W/README.md" "$ROOT/README.md"
  echo "README.md updated" >&2
fi
