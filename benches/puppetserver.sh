#!/usr/bin/env bash
# Catalog compile time on a real Puppet Server (JRuby) for a node whose Hiera data has N
# encrypted values: eyaml_gpg::lookup_key (socket mode, eyaml-gpg serve) against a
# `gpg --decrypt`-per-value lookup_key function (what hiera-eyaml-gpg's ruby_gpg does on
# Puppet Server: ciphertext in a temp file, one gpg process per value through Puppet's
# execution layer), and the same values as plain YAML (Puppet alone, no decryption).
#
# Not run in CI: it needs root and the distribution's `puppetserver` package
# (apt-get install puppetserver; .ci/run does not install it), and a few minutes. It runs
# Puppet Server in the foreground as user puppet with a HEAP-sized Java heap (default 768m)
# on port 8140, creates the CA and the server certificate with `puppetserver ca setup` if
# there are none yet (they stay), adds the environments bench_eyamlgpg, bench_rubygpg and
# bench_plain (and production, empty, if missing) under the server's codedir, and on exit
# stops the server, the service and gpg-agent and removes what it added and its temp dir.
# Each environment is compiled WARM times (default 3) before RUNS timed compiles; the median
# is reported.
#   sudo [BIN=path/to/eyaml-gpg] [HEAP=768m] [WARM=3] benches/puppetserver.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
runs=${2:-5}
heap=${HEAP:-768m}
warm=${WARM:-3}
command -v puppetserver >/dev/null || { echo "puppetserver is not installed (apt-get install puppetserver)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=target/release/eyaml-gpg
fi
keys=$(realpath fixtures/reference/keys)
module=$(realpath contrib/puppet/eyaml_gpg)
envs=$(puppet config print codedir --section server)/environments
certname=$(puppet config print certname --section server)
ssl=$(puppet config print ssldir --section server)
benv=(bench_eyamlgpg bench_rubygpg bench_plain)
for e in "${benv[@]}"; do
    [ ! -e "$envs/$e" ] || { echo "$envs/$e exists: remove it first" >&2; exit 2; }
done
if (exec 3<>/dev/tcp/127.0.0.1/8140) 2>/dev/null; then
    echo "port 8140 is in use: stop the Puppet Server that runs there" >&2
    exit 2
fi

# Puppet Server creates the production environment at start as user puppet: it must exist.
made=()
for d in "$envs" "$envs/production"; do
    [ -e "$d" ] || { mkdir -p "$d"; made=("$d" "${made[@]}"); }
done
work=$(mktemp -d /tmp/eyaml-gpg-puppetserver.XXXXXX)
chmod 755 "$work"
server=
serve=
cleanup() {
    [ -z "$server" ] || kill -TERM -- "-$server" 2>/dev/null || true
    [ -z "$serve" ] || kill "$serve" 2>/dev/null || true
    [ -z "$server" ] || wait "$server" 2>/dev/null || true
    runuser -u puppet -- gpgconf --homedir "$work/gnupg" --kill gpg-agent 2>/dev/null || true
    for e in "${benv[@]}"; do rm -rf "${envs:?}/$e"; done
    for d in "${made[@]}"; do rmdir "$d"; done
    rm -rf "$work"
}
trap cleanup EXIT
echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg);" \
    "puppetserver $(dpkg-query -W -f '${Version}' puppetserver), heap $heap, $n values, $runs runs"

# The service binary and Bob's key for the puppet user: a key file for eyaml-gpg serve, a
# GnuPG home for the gpg path.
install -m 755 "$BIN" "$work/eyaml-gpg"
install -d -o puppet -g puppet -m 700 "$work/keys" "$work/gnupg" "$work/run"
install -o puppet -g puppet -m 600 "$keys/bob.sec.asc" "$work/keys/bob.sec.asc"
runuser -u puppet -- gpg --homedir "$work/gnupg" --batch --quiet --import "$work/keys/bob.sec.asc"

for ((i = 0; i < n; i++)); do echo "bench::key$i: DEC::GPG[secret number $i]!"; done > "$work/plain.eyaml"
HOME=$work "$work/eyaml-gpg" encrypt -e "$work/plain.eyaml" --gpg-keyring "$keys/bob.pub.asc" \
    --gpg-recipients bob@example.com > "$work/common.eyaml"
for e in "${benv[@]}"; do
    mkdir -p "$envs/$e/data" "$envs/$e/manifests" "$envs/$e/modules"
    # Parsed code and loaded functions are kept between compiles, as production servers keep
    # them; Hiera lookups (and so decryption) still start afresh with each compile.
    echo 'environment_timeout = unlimited' > "$envs/$e/environment.conf"
    {
        echo 'node default {'
        for ((i = 0; i < n; i++)); do echo "  notify { 'k$i': message => lookup('bench::key$i') }"; done
        echo '}'
    } > "$envs/$e/manifests/site.pp"
done
cp "$work/common.eyaml" "$envs/bench_eyamlgpg/data/common.eyaml"
cp "$work/common.eyaml" "$envs/bench_rubygpg/data/common.eyaml"
sed 's/DEC::GPG\[\(.*\)\]!/"\1"/' "$work/plain.eyaml" > "$envs/bench_plain/data/common.yaml"
cp -r "$module" "$envs/bench_eyamlgpg/modules/"
cat > "$envs/bench_eyamlgpg/hiera.yaml" <<EOF
version: 5
hierarchy:
  - name: secrets
    lookup_key: eyaml_gpg::lookup_key
    path: common.eyaml
    options:
      socket: $work/run/eyaml-gpg.sock
EOF
# The ruby_gpg path as a lookup_key function: per value, the ciphertext to a temp file and
# `gpg --decrypt` through Puppet's execution layer (Puppet Server's, which closes stdin).
mkdir -p "$envs/bench_rubygpg/modules/rubygpg/lib/puppet/functions/rubygpg"
cat > "$envs/bench_rubygpg/modules/rubygpg/lib/puppet/functions/rubygpg/lookup_key.rb" <<'EOF'
require 'tempfile'
Puppet::Functions.create_function(:'rubygpg::lookup_key') do
  dispatch :lookup_key do
    param 'String[1]', :key
    param 'Hash', :options
    param 'Puppet::LookupContext', :context
  end
  def lookup_key(key, options, context)
    data = context.cached_file_data(options['path']) { |c| Puppet::Util::Yaml.safe_load(c, [Symbol], options['path']) }
    context.not_found unless data.include?(key)
    data[key].to_s.gsub(/ENC\[GPG,([^\]]*)\]/) do
      f = Tempfile.new('ruby_gpg'); f.binmode; f.write(Regexp.last_match(1).unpack1('m')); f.close
      out = Puppet::Util::Execution.execute(['gpg', '--homedir', options['gnupghome'], '--batch', '--quiet', '--decrypt', f.path], combine: false)
      f.unlink
      out.to_s
    end
  end
end
EOF
cat > "$envs/bench_rubygpg/hiera.yaml" <<EOF
version: 5
hierarchy:
  - name: secrets
    lookup_key: rubygpg::lookup_key
    path: common.eyaml
    options:
      gnupghome: $work/gnupg
EOF
cat > "$envs/bench_plain/hiera.yaml" <<'EOF'
version: 5
hierarchy:
  - name: plain
    path: common.yaml
EOF
chown -R puppet:puppet "${benv[@]/#/$envs/}"

runuser -u puppet -- "$work/eyaml-gpg" -q serve --socket "$work/run/eyaml-gpg.sock" \
    --gpg-keyring "$work/keys/bob.sec.asc" &
serve=$!

if [ ! -e "$ssl/certs/$certname.pem" ]; then
    puppetserver ca setup >/dev/null
fi
# What `puppetserver foreground` runs, with a smaller heap than /etc/default/puppetserver's.
install -d -o puppet -g puppet -m 755 /run/puppetserver
(cd /usr/share/puppetserver && exec setsid runuser -u puppet -- /usr/bin/java "-Xms$heap" "-Xmx$heap" \
    -Djruby.logger.class=com.puppetlabs.jruby_utils.jruby.Slf4jLogger -Dlogappender=STDOUT \
    -Djruby.lib=/usr/share/jruby/lib -XX:+CrashOnOutOfMemoryError \
    -jar puppetserver.jar --config /etc/puppet/puppetserver/conf.d \
    --bootstrap-config /etc/puppet/puppetserver/services.d) > "$work/puppetserver.log" 2>&1 &
server=$!
start=$(date +%s)
until curl -sk https://127.0.0.1:8140/status/v1/simple 2>/dev/null | grep -q running; do
    kill -0 "$server" 2>/dev/null || { tail -20 "$work/puppetserver.log" >&2; exit 1; }
    [ $(($(date +%s) - start)) -lt 600 ] || { echo "puppetserver did not start in 10 min" >&2; exit 1; }
    sleep 2
done
echo "puppetserver up in $(($(date +%s) - start)) s"

compile() {
    curl -s -o "$work/catalog.json" -w '%{http_code} %{time_total}\n' \
        --resolve "$certname:8140:127.0.0.1" \
        --cert "$ssl/certs/$certname.pem" --key "$ssl/private_keys/$certname.pem" \
        --cacert "$ssl/certs/ca.pem" \
        "https://$certname:8140/puppet/v3/catalog/$certname?environment=$1"
}
# Every notify of the catalog holds its plaintext.
check() {
    ruby -rjson -e '
        c = JSON.parse(File.read(ARGV[0])); n = ARGV[1].to_i
        got = c["resources"].select { |r| r["type"] == "Notify" }.to_h { |r| [r["title"], r["parameters"]["message"]] }
        want = (0...n).to_h { |i| ["k#{i}", "secret number #{i}"] }
        abort "#{ARGV[2]}: the catalog does not hold the plaintexts" unless got == want
    ' "$work/catalog.json" "$n" "$1"
}
declare -A median
for e in bench_plain bench_eyamlgpg bench_rubygpg; do
    # Warm-up: JRuby loads and compiles the code paths of this environment.
    for ((r = 0; r < warm; r++)); do
        read -r code _ < <(compile "$e")
        [ "$code" = 200 ] || { echo "$e: HTTP $code: $(head -c 500 "$work/catalog.json")" >&2; exit 1; }
        check "$e"
    done
    times=()
    for ((r = 0; r < runs; r++)); do
        read -r code t < <(compile "$e")
        [ "$code" = 200 ] || { echo "$e: HTTP $code" >&2; exit 1; }
        check "$e"
        times+=("$t")
    done
    median[$e]=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
    echo "$e: median compile ${median[$e]} s over $runs runs (all: ${times[*]})"
done
awk -v g="${median[bench_rubygpg]}" -v s="${median[bench_eyamlgpg]}" -v p="${median[bench_plain]}" 'BEGIN {
    printf "eyaml_gpg socket mode compiles %.1fx faster than gpg per value; it adds %.0f ms to the plain-YAML compile, gpg per value adds %.0f ms\n", g / s, (s - p) * 1000, (g - p) * 1000
}'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
