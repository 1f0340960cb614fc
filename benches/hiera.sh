#!/usr/bin/env bash
# `eyaml-gpg lookup --hiera` against Puppet's own lookup, same machine, same run: 100 keys for
# one node on a 50-level hierarchy over 5 000 data files (100 per level, one of them the
# node's). The data is plain YAML (yaml_data levels): Puppet cannot decrypt GPG values without
# the Ruby plugin, which is not packaged, so both sides do the same Hiera work and no
# decryption (decryption speed is benches/lookup.sh and benches/serve.sh).
#   benches/hiera.sh [KEYS] [PUPPET_CLI_KEYS]
# 1. eyaml-gpg lookup, one process per key (as users run it);
# 2. puppet lookup --node --facts, one process per key, for the first PUPPET_CLI_KEYS keys
#    (each takes seconds; the per-lookup mean is compared);
# 3. Puppet as a library (Puppet::Pal, one process), every key, start-up excluded.
set -euo pipefail
cd "$(dirname "$0")/.."
nkeys=${1:-100}
ncli=${2:-10}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=target/release/eyaml-gpg
fi
bin=$(realpath "$BIN")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work GNUPGHOME=$work/no-gnupg-home
echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg); $(puppet --version | sed 's/^/puppet /')"

ruby -e '
    work, nkeys = ARGV[0], ARGV[1].to_i
    env = "#{work}/envs/bench"
    levels = 50
    File.write("#{env}/hiera.yaml".tap { |f| require "fileutils"; FileUtils.mkdir_p(File.dirname(f)) },
      "version: 5\ndefaults:\n  datadir: data\n  data_hash: yaml_data\nhierarchy:\n" +
      (0...levels).map { |i| "  - name: level#{i}\n    path: \"l#{i}/%{facts.group}.yaml\"\n" }.join)
    (0...levels).each do |i|
      FileUtils.mkdir_p("#{env}/data/l#{i}")
      (0...100).each do |g|
        keys = (0...nkeys).select { |k| k % levels == i }.map { |k| "bench::k#{k}: \"level #{i} group #{g} key #{k}\"\n" }
        filler = (0...20).map { |f| "filler::l#{i}::f#{f}: [#{f}, two, three]\n" }
        File.write("#{env}/data/l#{i}/g#{g}.yaml", (keys + filler).join)
      end
    end
    File.write("#{work}/facts.yaml", "clientcert: node1.example.com\nhostname: node1\ndomain: example.com\nfqdn: node1.example.com\ngroup: g42\n")
' "$work" "$nkeys"
echo "hierarchy: 50 levels, $(find "$work/envs/bench/data" -name '*.yaml' | wc -l) files; $nkeys keys"
puppet_args=(--confdir "$work/conf" --codedir "$work/code" --vardir "$work/var" --logdir "$work/log"
    --environmentpath "$work/envs" --environment bench)

ms() { echo $((($2 - $1) / 1000000)); }
want() { echo "\"level $(($1 % 50)) group 42 key $1\""; }

t0=$(date +%s%N)
for ((k = 0; k < nkeys; k++)); do
    got=$("$bin" lookup "bench::k$k" --hiera "$work/envs/bench/hiera.yaml" --facts "$work/facts.yaml" \
        --environment bench --format json)
    [ "$got" = "$(want $k)" ] || { echo "eyaml-gpg: bench::k$k = $got" >&2; exit 1; }
done
t1=$(date +%s%N)
ours=$(ms "$t0" "$t1")

t0=$(date +%s%N)
for ((k = 0; k < ncli; k++)); do
    got=$(puppet lookup "${puppet_args[@]}" --node node1.example.com --facts "$work/facts.yaml" \
        --render-as json "bench::k$k" 2>/dev/null)
    [ "$got" = "$(want $k)" ] || { echo "puppet lookup: bench::k$k = $got" >&2; exit 1; }
done
t1=$(date +%s%N)
cli=$(ms "$t0" "$t1")

pal=$(ruby -rjson -e '
    require "puppet_pal"
    work, n = ARGV[0], ARGV[1].to_i
    Puppet.initialize_settings(["--confdir", "#{work}/conf", "--codedir", "#{work}/code", "--vardir", "#{work}/var"])
    facts = YAML.safe_load(File.read("#{work}/facts.yaml"))
    ms = nil
    Puppet::Pal.in_environment("bench", env_dir: "#{work}/envs/bench", facts: facts) do |pal|
      pal.with_catalog_compiler do |c|
        t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        (0...n).each do |k|
          v = c.call_function("lookup", "bench::k#{k}")
          raise "bench::k#{k} = #{v}" unless v == "level #{k % 50} group 42 key #{k}"
        end
        ms = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t) * 1000
      end
    end
    puts ms.round
' "$work" "$nkeys")

awk -v ours="$ours" -v n="$nkeys" -v cli="$cli" -v ncli="$ncli" -v pal="$pal" 'BEGIN {
    o = ours / n; c = cli / ncli; p = pal / n
    printf "eyaml-gpg lookup --hiera, one process per key: %d ms for %d keys = %.1f ms per lookup\n", ours, n, o
    printf "puppet lookup, one process per key:           %d ms for %d keys = %.1f ms per lookup\n", cli, ncli, c
    printf "Puppet as a library (Pal), one process:         %d ms for %d keys = %.1f ms per lookup\n", pal, n, p
    printf "ratios per lookup: puppet lookup / eyaml-gpg = %.1fx; Pal in process / eyaml-gpg process = %.2fx\n", c / o, p / o
}'
