#!/usr/bin/env bash
# Catalog compile time on a real Puppet Server (JRuby) for a node whose Hiera data has N
# encrypted values: eyaml_gpg::lookup_key (socket mode, eyaml-gpg serve) against a
# `gpg --decrypt`-per-value lookup_key function (what hiera-eyaml-gpg's ruby_gpg does on
# Puppet Server: ciphertext in a temp file, one gpg process per value, no stdin).
#
# Not run in CI: it needs root, the distribution's `puppetserver` package
# (apt-get install puppetserver; it is not installed by .ci/run) and a few minutes. It takes
# over /etc/puppet/code/environments/{eyamlgpg,rubygpg} and the local Puppet Server.
# NEVER RUN YET: on the development machine puppetserver (Debian 7.9.5) is installable but was
# not installed or run (2 cores shared by several builds); this script has produced no figure
# and may need fixes on its first run.
#   sudo benches/puppetserver.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
runs=${2:-5}
command -v puppetserver >/dev/null || { echo "puppetserver is not installed (apt-get install puppetserver)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=target/release/eyaml-gpg
fi
install -m 755 "$BIN" /usr/local/bin/eyaml-gpg
keys=$(realpath fixtures/reference/keys)
codedir=$(puppet config print codedir --section server)
envs=$codedir/environments
certname=$(puppet config print certname)
echo "machine: $(nproc) cores, $(uname -sr); puppetserver $(dpkg-query -W -f '${Version}' puppetserver)"

# Keys for the puppet user: a key file for eyaml-gpg serve, a GnuPG home for the gpg path.
install -d -o puppet -g puppet -m 700 /var/lib/eyaml-gpg /var/lib/eyaml-gpg/gnupg /run/eyaml-gpg
install -o puppet -g puppet -m 600 "$keys/bob.sec.asc" /var/lib/eyaml-gpg/bob.sec.asc
runuser -u puppet -- gpg --homedir /var/lib/eyaml-gpg/gnupg --batch --quiet --import /var/lib/eyaml-gpg/bob.sec.asc

for env in eyamlgpg rubygpg; do
    rm -rf "${envs:?}/$env"
    mkdir -p "$envs/$env/data" "$envs/$env/manifests" "$envs/$env/modules"
    for ((i = 0; i < n; i++)); do echo "bench::key$i: DEC::GPG[secret number $i]!"; done > /tmp/plain.eyaml
    eyaml-gpg encrypt -e /tmp/plain.eyaml --gpg-keyring "$keys/bob.pub.asc" \
        --gpg-recipients bob@example.com > "$envs/$env/data/common.eyaml"
    {
        echo 'node default {'
        for ((i = 0; i < n; i++)); do echo "  notify { 'k$i': message => Sensitive(lookup('bench::key$i')) }"; done
        echo '}'
    } > "$envs/$env/manifests/site.pp"
done
rm -f /tmp/plain.eyaml
cp -r contrib/puppet/eyaml_gpg "$envs/eyamlgpg/modules/"
cat > "$envs/eyamlgpg/hiera.yaml" <<'EOF'
version: 5
hierarchy:
  - name: secrets
    lookup_key: eyaml_gpg::lookup_key
    path: common.eyaml
    options:
      socket: /run/eyaml-gpg/eyaml-gpg.sock
EOF
# The ruby_gpg path as a lookup_key function: per value, the ciphertext to a temp file and
# `gpg --decrypt` through Puppet's execution layer (Puppet Server's, which closes stdin).
mkdir -p "$envs/rubygpg/modules/rubygpg/lib/puppet/functions/rubygpg"
cat > "$envs/rubygpg/modules/rubygpg/lib/puppet/functions/rubygpg/lookup_key.rb" <<'EOF'
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
cat > "$envs/rubygpg/hiera.yaml" <<'EOF'
version: 5
hierarchy:
  - name: secrets
    lookup_key: rubygpg::lookup_key
    path: common.eyaml
    options:
      gnupghome: /var/lib/eyaml-gpg/gnupg
EOF
chown -R puppet:puppet "$envs/eyamlgpg" "$envs/rubygpg"

runuser -u puppet -- eyaml-gpg -q serve --socket /run/eyaml-gpg/eyaml-gpg.sock \
    --gpg-keyring /var/lib/eyaml-gpg/bob.sec.asc &
serve=$!
trap 'kill $serve 2>/dev/null || true' EXIT
puppet config set --section server environment_timeout 0
systemctl restart puppetserver
ssl=$(puppet config print ssldir)
puppet ssl bootstrap --waitforcert 10 >/dev/null 2>&1 || true
compile() {
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
        --cert "$ssl/certs/$certname.pem" --key "$ssl/private_keys/$certname.pem" \
        --cacert "$ssl/certs/ca.pem" -H 'Content-Type: application/json' \
        -d "{\"certname\":\"$certname\",\"environment\":\"$1\",\"persistence\":{\"facts\":false,\"catalog\":false}}" \
        "https://$certname:8140/puppet/v4/catalog"
}
for env in eyamlgpg rubygpg; do
    compile "$env" >/dev/null # warm-up: JRuby compiles the code paths once
    times=()
    for ((r = 0; r < runs; r++)); do
        read -r code t < <(compile "$env")
        [ "$code" = 200 ] || { echo "$env: HTTP $code" >&2; exit 1; }
        times+=("$t")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p" > "/tmp/median.$env"
    echo "$env: median compile $(cat "/tmp/median.$env") s over $runs runs ($n encrypted values)"
done
awk -v a="$(cat /tmp/median.rubygpg)" -v b="$(cat /tmp/median.eyamlgpg)" \
    'BEGIN {printf "eyaml_gpg socket mode compiles %.1fx faster than gpg per value\n", a / b}'
