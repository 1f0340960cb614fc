#!/usr/bin/env bash
# Runs each fuzz target for MINUTES minutes, all at once at nice 19:
#   fuzz/run.sh MINUTES [TARGET...]      (default: every target)
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). The corpus grows in
# fuzz/corpus/<target>/ (seeded from fixtures/ on every run), crashes land in
# fuzz/artifacts/<target>/, each target's log in fuzz/logs/<target>.log. After the run, each
# corpus is minimized (`cargo fuzz cmin`, edges only) so that what is committed stays small.
# Every input that failed belongs, once fixed, in fuzz/regressions/<target>/: `cargo test`
# replays those and the corpus (src/fuzzing.rs).
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
root=$(cd .. && pwd)

minutes=${1:?usage: fuzz/run.sh MINUTES [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(scan recipients config yaml keybox assuan decrypt)
fi

# Release build with debug assertions (overflow checks); no sanitizer: the library forbids
# unsafe code, and ASan would halve the executions per second. 16 codegen units: a build in
# minutes instead of most of an hour on two cores, for a few per cent fewer executions.
build=(-O -a -s none --codegen-units 16)
cargo +nightly fuzz build "${build[@]}"


seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT

# Seeds: the files a real run would read, from the fixtures.
seed() {
  local target=$1 dir=$seeds/$1
  mkdir -p "$dir"
  case $target in
    scan | yaml)
      find "$root/fixtures" -type f \( -name '*.eyaml' -o -name '*.yaml' \) -size -64k \
        -exec cp -t "$dir" --backup=numbered {} + ;;
    recipients)
      find "$root/fixtures" -type f -name 'hiera-eyaml-gpg.recipients' \
        -exec cp -t "$dir" --backup=numbered {} + ;;
    config)
      find "$root/fixtures" -type f \( -name '.eyaml-gpg-check.yaml' -o -name 'config.yaml' \) \
        -exec cp -t "$dir" --backup=numbered {} +
      printf 'gpg_gnupghome: /tmp/g\ngpg_always_trust: yes\ngpg_recipients:\n  - a\n' >"$dir/eyaml" ;;
    keybox)
      local home
      home=$(mktemp -d)
      gpg --homedir "$home" --batch --quiet --import "$root"/fixtures/reference/keys/*.pub.asc 2>/dev/null
      cp "$home/pubring.kbx" "$dir/pubring.kbx"
      gpgconf --homedir "$home" --kill all 2>/dev/null || true
      rm -rf "$home" ;;
    assuan)
      printf 'OK Pleased to meet you\nOK\nS INQUIRE_MAXLEN 4096\nINQUIRE CIPHERTEXT\nD (5:value32:%%0A%%0D%%25abcdefghijklmnopqrstuvw)\nOK\n' >"$dir/pkdecrypt"
      printf 'OK hi\nERR 67108881 No secret key <GPG Agent>\n' >"$dir/err"
      printf '# comment\nOK\nOK\nD (11:private-key(3:rsa(1:n2:NN)(1:d1:D)))\nOK\n' >"$dir/sexp" ;;
    decrypt)
      cp "$root/fixtures/hardening/cv25519-full.gpg" "$dir/"
      local n=0
      grep -rhoE 'ENC\[GPG,[A-Za-z0-9+/=]+\]' "$root/fixtures" 2>/dev/null | sort -u | head -300 |
        while read -r token; do
          n=$((n + 1))
          b64=${token#ENC[GPG,}
          printf '%s' "${b64%]}" | base64 -d >"$dir/value-$n" 2>/dev/null || rm -f "$dir/value-$n"
        done ;;
  esac
}

pids=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" logs
  seed "$t"
  # Fork mode: a finding is saved and the run goes on. The timeout is generous because the
  # run is niced on a shared machine (a unit's wall time is many times its CPU time).
  nice -n 19 cargo +nightly fuzz run "${build[@]}" "$t" "corpus/$t" "$seeds/$t" -- \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -max_total_time=$((minutes * 60)) \
    -timeout=60 -rss_limit_mb=2048 -max_len=16384 >"logs/$t.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || true
  if [ -n "$(ls "artifacts/${targets[$i]}")" ]; then
    echo "${targets[$i]}: findings in fuzz/artifacts/${targets[$i]}/ (log: fuzz/logs/${targets[$i]}.log)" >&2
    status=1
  fi
done

for t in "${targets[@]}"; do
  # Edges only (no hit counts): the smallest set that covers what the run reached.
  nice -n 19 cargo +nightly fuzz cmin "${build[@]}" "$t" "corpus/$t" -- -use_counters=0 \
    >>"logs/$t.log" 2>&1 || true
  # `cargo test` replays the committed corpus: keep it to the 60 largest inputs of each target.
  ls -S "corpus/$t" | tail -n +61 | sed "s|^|corpus/$t/|" | xargs -r rm -f
  last=$(grep -E '^#[0-9]+' "logs/$t.log" | tail -1 | cut -c1-100)
  echo "$t: $last; corpus=$(ls "corpus/$t" | wc -l) artifacts=$(ls "artifacts/$t" | wc -l)"
done
echo "logs in $here/logs"
exit $status
