#!/usr/bin/env bash
# eyaml-gpg serve under load, and Hiera lookups through the Puppet module against the path
# Puppet Server takes today (hiera-eyaml-gpg's ruby_gpg: one `gpg --decrypt` per value, the
# ciphertext in a temp file). Same machine, same run, Bob's cv25519 key from the reference set.
#   benches/serve.sh [CLIENTS] [DECRYPTS] [KEYS] [ROUNDS]
# 1. CLIENTS concurrent clients (Ruby processes) send DECRYPTS single-value requests in all:
#    throughput, p99 latency, the service's max RSS, errors.
# 2. Lookup of KEYS encrypted keys in one data file through real Puppet (Puppet::Pal, one
#    process): eyaml_gpg::lookup_key in socket mode, in binary mode, and a gpg --decrypt per
#    value from Ruby; Puppet alone on the same keys as plain YAML (yaml_data, and Puppet's own
#    eyaml_lookup_key, the floor of a lookup_key function). ROUNDS rounds (default 5),
#    medians. Times exclude Puppet's start-up.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-16}
decrypts=${2:-10000}
nkeys=${3:-100}
rounds=${4:-5}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=target/release/eyaml-gpg
fi
bin=$(realpath "$BIN")
keys=$(realpath fixtures/reference/keys)
work=$(mktemp -d)
mkdir -m 700 "$work/run" "$work/gnupg"
export HOME=$work GNUPGHOME=$work/gnupg
trap 'kill $server 2>/dev/null || true; gpgconf --kill gpg-agent 2>/dev/null || true; rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"

for ((i = 0; i < nkeys; i++)); do
    echo "bench::key$i: DEC::GPG[secret number $i]!"
done > "$work/plain.eyaml"
"$bin" encrypt -e "$work/plain.eyaml" --gpg-keyring "$keys/bob.pub.asc" \
    --gpg-recipients bob@example.com > "$work/data.eyaml"

sock=$work/run/eyaml-gpg.sock
"$bin" -q serve --socket "$sock" --gpg-keyring "$keys/bob.sec.asc" &
server=$!
until [ -S "$sock" ]; do sleep 0.05; done

echo "== serve: $clients clients, $decrypts decrypts"
token=$(grep -m1 -o 'ENC\[GPG,[^]]*\]' "$work/data.eyaml")
per=$((decrypts / clients))
t0=$(date +%s%N)
pids=()
for ((c = 0; c < clients; c++)); do
    ruby -rsocket -rjson -e '
        sock = UNIXSocket.new(ARGV[0]); req = JSON.generate("v" => 1, "op" => "decrypt", "values" => [ARGV[1]]) + "\n"
        lat = []; errors = 0
        ARGV[2].to_i.times do
          t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          sock.write(req); r = JSON.parse(sock.gets)
          lat << Process.clock_gettime(Process::CLOCK_MONOTONIC) - t
          errors += 1 unless r["ok"] && r["results"][0]["ok"]
        end
        puts lat.map { |x| (x * 1e6).round }.join("\n"); warn "errors #{errors}" if errors > 0
    ' "$sock" "$token" "$per" > "$work/lat.$c" 2> "$work/err.$c" &
    pids+=($!)
done
wait "${pids[@]}"
t1=$(date +%s%N)
total=$(cat "$work"/lat.* | wc -l)
errors=$(cat "$work"/err.* | awk '{s += $2} END {print s + 0}')
p99=$(cat "$work"/lat.* | sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.99)]}')
p50=$(cat "$work"/lat.* | sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.5)]}')
rss=$(awk '/VmHWM/ {print $2}' /proc/$server/status)
ms=$(((t1 - t0) / 1000000))
echo "decrypts: $total in ${ms} ms = $((total * 1000 / (ms > 0 ? ms : 1)))/s; p50 ${p50} µs, p99 ${p99} µs; max RSS ${rss} kB; errors $errors"

echo "== lookup of $nkeys encrypted keys through Puppet"
gpg --batch --quiet --import "$keys/bob.sec.asc"
mkdir -p "$work/envs/sock" "$work/envs/bin" "$work/data"
cp "$work/data.eyaml" "$work/data/common.eyaml"
cat > "$work/envs/sock/hiera.yaml" <<EOF
{"version": 5, "defaults": {"datadir": "$work/data"}, "hierarchy": [{"name": "s", "lookup_key": "eyaml_gpg::lookup_key", "paths": ["common.eyaml"], "options": {"socket": "$sock"}}]}
EOF
# The floor: the same keys as plain YAML through Puppet's own yaml_data (no decryption at all),
# what a lookup costs Puppet before any decryption path is chosen.
mkdir -p "$work/envs/plain" "$work/plaindata"
sed 's/DEC::GPG\[\(.*\)\]!/"\1"/' "$work/plain.eyaml" > "$work/plaindata/common.yaml"
cat > "$work/envs/plain/hiera.yaml" <<EOF
{"version": 5, "defaults": {"datadir": "$work/plaindata"}, "hierarchy": [{"name": "p", "data_hash": "yaml_data", "paths": ["common.yaml"]}]}
EOF
# The floor of any lookup_key function: Puppet's own eyaml_lookup_key over the same plain
# values (it runs per key, where yaml_data parses the file once and indexes a hash).
mkdir -p "$work/envs/plainlk"
cat > "$work/envs/plainlk/hiera.yaml" <<EOF
{"version": 5, "defaults": {"datadir": "$work/plaindata"}, "hierarchy": [{"name": "p", "lookup_key": "eyaml_lookup_key", "paths": ["common.yaml"]}]}
EOF
cat > "$work/envs/bin/hiera.yaml" <<EOF
{"version": 5, "defaults": {"datadir": "$work/data"}, "hierarchy": [{"name": "b", "lookup_key": "eyaml_gpg::lookup_key", "paths": ["common.eyaml"], "options": {"binary": "$bin", "gpg_keyring": "$keys/bob.sec.asc"}}]}
EOF
ruby -rjson -rtempfile -e '
    require "puppet_pal"
    work, mod, n, rounds, service, tck = ARGV[0], ARGV[1], ARGV[2].to_i, ARGV[3].to_i, ARGV[4], ARGV[5].to_f
    Puppet.initialize_settings(["--vardir", work, "--confdir", work, "--codedir", work])
    keys = (0...n).map { |i| "bench::key#{i}" }
    def clock; Process.clock_gettime(Process::CLOCK_MONOTONIC); end
    tokens = File.read("#{work}/data.eyaml").scan(/ENC\[GPG,([^\]]*)\]/).flatten
    times = Hash.new { |h, k| h[k] = [] }
    # CPU seconds, which the load from elsewhere does not inflate: this process, the service,
    # the child processes (binary mode, gpg) and gpg-agent.
    agent = IO.popen(["gpg-connect-agent", "getinfo pid", "/bye"], &:read)[/^D (\d+)/, 1]
    proc_cpu = ->(pid) { f = File.read("/proc/#{pid}/stat").split(") ").last.split; (f[11].to_i + f[12].to_i) / tck }
    cpu_now = lambda do
      t = Process.times
      Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) + t.cutime + t.cstime + proc_cpu[service] + proc_cpu[agent]
    end
    cpu = Hash.new(0.0)
    # Rounds interleave the paths so that a burst of load from elsewhere hits them alike;
    # each round is a fresh environment and compiler (fresh Hiera caches).
    rounds.times do
      %w[plain plainlk sock bin].each do |e|
        Puppet::Pal.in_environment(e, env_dir: "#{work}/envs/#{e}", pre_modulepath: [mod], facts: {}) do |pal|
          pal.with_script_compiler do |c|
            # Warm-up without decrypting: loads the backend function and reads the data file
            # (a key that is not there opens no connection and runs no process).
            begin; c.call_function("lookup", "bench::absent"); rescue Puppet::Error; end
            t = clock
            c0 = cpu_now.call
            keys.each_with_index { |k, i| v = c.call_function("lookup", k); raise "bad #{k}" unless v == "secret number #{i}" }
            cpu[e] += cpu_now.call - c0
            times[e] << clock - t
          end
        end
      end
      # ruby_gpg: the ciphertext to a temp file, one gpg --decrypt per value.
      t = clock
      c0 = cpu_now.call
      tokens.each_with_index do |b64, i|
        f = Tempfile.new("ruby_gpg"); f.binmode; f.write(b64.unpack1("m")); f.close
        out = IO.popen(["gpg", "--batch", "--quiet", "--decrypt", f.path], err: File::NULL, &:read)
        f.unlink
        raise "bad gpg #{i}" unless out == "secret number #{i}"
      end
      cpu["gpg"] += cpu_now.call - c0
      times["gpg"] << clock - t
    end
    med = times.transform_values { |v| v.sort[v.size / 2] }
    ms = ->(x) { (x * 1000).round(1) }
    all = ->(e) { times[e].map { |x| ms[x] }.join(" / ") }
    puts "medians of #{rounds} rounds (all rounds in brackets)"
    puts "socket mode: #{ms[med["sock"]]} ms [#{all["sock"]}]; binary mode: #{ms[med["bin"]]} ms [#{all["bin"]}]; gpg per value: #{ms[med["gpg"]]} ms [#{all["gpg"]}]"
    puts "socket mode is #{(med["gpg"] / med["sock"]).round(1)}x the gpg-per-value path; binary mode #{(med["gpg"] / med["bin"]).round(1)}x"
    c = cpu.transform_values { |x| x / rounds }
    puts "CPU per #{n} lookups (Puppet process + service + child processes + gpg-agent, mean of the rounds): socket #{ms[c["sock"]]} ms, binary #{ms[c["bin"]]} ms, gpg per value #{ms[c["gpg"]]} ms, yaml_data #{ms[c["plain"]]} ms, eyaml_lookup_key #{ms[c["plainlk"]]} ms: socket mode uses #{(c["gpg"] / c["sock"]).round(1)}x less CPU than the gpg path, binary mode #{(c["gpg"] / c["bin"]).round(1)}x"
    puts "Puppet alone (the same keys as plain YAML, no decryption): #{ms[med["plain"]]} ms [#{all["plain"]}] through yaml_data, #{ms[med["plainlk"]]} ms [#{all["plainlk"]}] through eyaml_lookup_key; so at most #{(med["gpg"] / med["plain"]).round(1)}x is possible; the socket path adds #{ms[med["sock"] - med["plain"]]} ms to yaml_data, #{ms[med["sock"] - med["plainlk"]]} ms to eyaml_lookup_key"
' "$work" "$(realpath contrib/puppet)" "$nkeys" "$rounds" "$server" "$(getconf CLK_TCK)"
