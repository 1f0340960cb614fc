# Shared by the benchmark scripts (sourced): timing in nanoseconds and the median of numbers
# read one per line.
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# "wall_seconds cpu_seconds" (CPU = user + sys of the command and its children) of one run of
# "$@", its output discarded.
wall_cpu() {
  local TIMEFORMAT='%R %U %S' t
  t=$( { time "$@" > /dev/null 2>&1; } 2>&1 )
  awk '{ printf "%.4f %.4f\n", $1, $2 + $3 }' <<< "$t"
}

# The machine, for the line under every table: cores, CPU model, GnuPG version.
machine() {
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(gpg --version | head -1)"
}

# The 1-minute, 5-minute and 15-minute load averages.
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Microseconds per X25519 key agreement by `openssl speed` (the cv25519 decryption floor).
x25519_us() {
  openssl speed -seconds "${1:-2}" ecdhx25519 2> /dev/null \
    | awk '/X25519/ { ops = $NF } END { if (ops > 0) printf "%.1f\n", 1e6 / ops }'
}

# Microseconds per RSA-3072 private-key operation by `openssl speed` (the rsa3072 floor).
rsa3072_us() {
  openssl speed -seconds "${1:-2}" rsa3072 2> /dev/null \
    | awk '$1 == "rsa" && $2 == "3072" { ops = $(NF-1) } END { if (ops > 0) printf "%.1f\n", 1e6 / ops }'
}

# Writes DIR/pinentry.sh: a pinentry that answers every GETPIN with "bench passphrase" and
# logs each prompt as a line of DIR/pinentry.log (the benchmarks count prompts with it).
scripted_pinentry() { # dir
  cat > "$1/pinentry.sh" << 'EOF'
#!/bin/sh
dir=$(dirname "$0")
echo "OK Pleased to meet you"
while IFS= read -r line; do
  case "$line" in
    GETPIN*) echo getpin >> "$dir/pinentry.log"; printf 'D bench passphrase\nOK\n' ;;
    BYE*) echo OK; exit 0 ;;
    *) echo OK ;;
  esac
done
EOF
  chmod 755 "$1/pinentry.sh"
}
