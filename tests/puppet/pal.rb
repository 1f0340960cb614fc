# Runs Hiera lookups through real Puppet (as a library, one process for many lookups) for
# tests/serve.rs. Argument: a JSON plan
#   {"modulepath": DIR, "sessions": [{"envdir": DIR, "steps": [STEP, ...]}, ...]}
# where a STEP is {"lookup": KEY, "merge": STRATEGY?}, {"kill": PID} (SIGTERM, then wait
# until the socket file is gone: {"socket": PATH}) or {"spawn": [CMD...], "socket": PATH}
# (start a service and wait for its socket). Each session is a fresh environment (fresh
# Hiera caches). Prints one JSON array per session: for each lookup {"value": V},
# (with "yaml" and "json": how `puppet lookup` renders it),
# {"sensitive": V} (a Sensitive value, unwrapped) or {"error": MESSAGE}.
require 'json'
require 'puppet_pal'
require 'socket'

plan = JSON.parse(File.read(ARGV.fetch(0)))
tmp = plan.fetch('vardir')
Puppet.initialize_settings(['--vardir', tmp, '--confdir', tmp, '--codedir', tmp, '--logdir', tmp, '--rundir', tmp])

def plain(v)
  case v
  when Puppet::Pops::Types::PSensitiveType::Sensitive then { '__sensitive__' => plain(v.unwrap) }
  when Hash then v.to_h { |k, x| [k, plain(x)] }
  when Array then v.map { |x| plain(x) }
  else v
  end
end

def wait_for(what)
  2000.times do
    return if yield
    sleep 0.01
  end
  raise "timed out waiting for #{what}"
end

children = []
out = plan.fetch('sessions').map do |session|
  envdir = session.fetch('envdir')
  results = []
  Puppet::Pal.in_environment(File.basename(envdir), env_dir: envdir,
                             pre_modulepath: [plan.fetch('modulepath')], facts: {}) do |pal|
    pal.with_script_compiler do |c|
      session.fetch('steps').each do |step|
        if step['kill']
          Process.kill('TERM', step['kill'])
          wait_for('the socket to go') { !File.exist?(step['socket']) }
        elsif step['spawn']
          pid = Process.spawn(*step['spawn'], out: File::NULL, err: File::NULL)
          children << pid
          wait_for('the socket') do
            UNIXSocket.new(step['socket']).close
            true
          rescue SystemCallError
            false
          end
        else
          args = { 'name' => step.fetch('lookup') }
          args['merge'] = step['merge'] if step['merge']
          begin
            v = c.call_function('lookup', args)
            results << if v.is_a?(Puppet::Pops::Types::PSensitiveType::Sensitive)
                         { 'sensitive' => plain(v.unwrap) }
                       else
                         # Rendered as `puppet lookup --render-as yaml|json` renders.
                         { 'value' => plain(v),
                           'yaml' => Puppet::Network::FormatHandler.format(:yaml).render(v),
                           'json' => Puppet::Network::FormatHandler.format(:json).render(v) }
                       end
          rescue StandardError => e
            results << { 'error' => e.message }
          end
        end
      end
    end
  end
  results
end
children.each do |pid|
  Process.kill('TERM', pid)
  Process.wait(pid)
rescue SystemCallError
  nil
end
puts JSON.generate(out)
