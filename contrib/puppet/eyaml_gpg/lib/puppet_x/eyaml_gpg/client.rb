# Talks to eyaml-gpg: a kept connection to `eyaml-gpg serve` (socket mode) or one
# `eyaml-gpg serve --once` process per batch (binary mode). Pure Ruby (socket, json,
# tempfile from the standard library), so it runs on MRI and on Puppet Server's JRuby.
require 'json'
require 'socket'
require 'tempfile'

module PuppetX
  module EyamlGpg
    # A failure to decrypt: the message never holds a ciphertext or a plaintext.
    class Error < StandardError; end

    PROTOCOL_VERSION = 1

    # One connection per socket path and Ruby runtime (one per JRuby instance on Puppet
    # Server), reused by every lookup and re-opened once when the service restarted.
    class SocketClient
      @clients = {}
      @lock = Mutex.new

      class << self
        def for(path)
          @lock.synchronize { @clients[path] ||= new(path) }
        end
      end

      def initialize(path)
        @path = path
        @sock = nil
        @lock = Mutex.new
      end

      # Returns the reply Hash to a decrypt request of `values`.
      def decrypt(values)
        request = JSON.generate('v' => PROTOCOL_VERSION, 'op' => 'decrypt', 'values' => values)
        @lock.synchronize do
          attempts = 0
          begin
            attempts += 1
            @sock ||= UNIXSocket.new(@path)
            @sock.write(request + "\n")
            line = @sock.gets
            raise EOFError, 'connection closed by the service' if line.nil?
            JSON.parse(line)
          rescue EOFError, IOError, SystemCallError => e
            close
            # A restarted service drops kept connections: one fresh connection is tried.
            retry if attempts < 2
            raise Error, "the eyaml-gpg service at #{@path} is not reachable (#{e.class}: #{e.message})"
          end
        end
      end

      def close
        @sock.close if @sock && !@sock.closed?
      rescue IOError
        nil
      ensure
        @sock = nil
      end
    end

    # Runs `eyaml-gpg serve --once` with the request in a 0600 temp file (Puppet Server
    # gives children no standard input).
    class BinaryClient
      KEY_OPTIONS = {
        'gpg_gnupghome' => '--gpg-gnupghome',
        'gpg_keyring' => '--gpg-keyring',
        'pkcs7_private_key' => '--pkcs7-private-key',
        'pkcs7_public_key' => '--pkcs7-public-key',
      }.freeze

      def initialize(options)
        @binary = options['binary'] || 'eyaml-gpg'
        @args = []
        KEY_OPTIONS.each do |name, flag|
          Array(options[name]).each { |v| @args << flag << v.to_s }
        end
      end

      def decrypt(values)
        request = JSON.generate('v' => PROTOCOL_VERSION, 'op' => 'decrypt', 'values' => values)
        file = Tempfile.new(['eyaml-gpg-request', '.json'])
        begin
          file.chmod(0o600)
          file.write(request)
          file.close
          out = run([@binary, 'serve', '--once', file.path] + @args)
        ensure
          file.close!
        end
        begin
          JSON.parse(out)
        rescue JSON::ParserError
          raise Error, "#{@binary} gave no reply (is eyaml-gpg installed and on the PATH?)"
        end
      end

      private

      def run(cmd)
        if defined?(Puppet::Util::Execution)
          Puppet::Util::Execution.execute(cmd, failonfail: false, combine: false).to_s
        else
          IO.popen(cmd, err: File::NULL, &:read)
        end
      rescue SystemCallError, Puppet::ExecutionFailure => e
        raise Error, "cannot run #{@binary}: #{e.message}"
      end
    end

    # The hiera-eyaml rule for tokens inside a looked-up string
    # (Hiera::Backend::Eyaml::Parser::EncHieraTokenType).
    HIERA_TOKEN = %r{ENC\[(\w+,)?([a-zA-Z0-9+/ =\n]+?)\]}.freeze
    # Puppet's eyaml_lookup_key decrypts a string only when it matches this.
    ENCRYPTED = /.*ENC\[.*?\]/.freeze

    def self.encrypted?(string)
      ENCRYPTED =~ string ? true : false
    end

    # Every token of every string under `value`.
    def self.tokens(value, out = [])
      case value
      when String
        value.scan(HIERA_TOKEN) { out << Regexp.last_match(0) } if encrypted?(value)
      when Hash
        value.each_value { |v| tokens(v, out) }
      when Array
        value.each { |v| tokens(v, out) }
      end
      out
    end

    # Tokens per request are capped in bytes so that a large data file stays under the
    # service's request limit (`--max-request`, 4 MiB by default) in several requests.
    MAX_BATCH_BYTES = 512 * 1024

    # `tokens` cut into batches of at most MAX_BATCH_BYTES (a larger token goes alone).
    def self.batches(tokens)
      out = []
      size = 0
      tokens.each do |t|
        cost = t.bytesize + 4
        if out.empty? || size + cost > MAX_BATCH_BYTES
          out << []
          size = 0
        end
        out.last << t
        size += cost
      end
      out
    end

    # Decrypts `tokens` (unique) in as few requests as the size cap allows. Returns
    # `[results, failure]`: token => plaintext or Error for every token of the requests that
    # were answered, and the Error that stopped the rest (service down, request refused), or
    # nil when every request was answered.
    def self.decrypt(client, tokens)
      results = {}
      batches(tokens).each { |batch| decrypt_batch(client, batch, results) }
      [results, nil]
    rescue Error => e
      [results, e]
    end

    # A request or reply over the service's limits is retried in halves, down to the one
    # token that is too large, which alone gets the error.
    TOO_LARGE = %w[request_too_large reply_too_large].freeze

    def self.decrypt_batch(client, batch, results)
      reply = client.decrypt(batch)
      unless reply['ok']
        err = reply['error'] || {}
        refusal = Error.new("eyaml-gpg refused the request (#{err['code']}: #{err['message']})")
        raise refusal unless TOO_LARGE.include?(err['code'])

        if batch.size == 1
          results[batch[0]] = refusal
        else
          half = batch.size / 2
          decrypt_batch(client, batch.take(half), results)
          decrypt_batch(client, batch.drop(half), results)
        end
        return
      end
      answers = reply['results'] || []
      batch.each_with_index do |token, i|
        r = answers[i]
        results[token] = if r && r['ok']
                           r['plaintext']
                         else
                           Error.new((r && r['error'] && r['error']['message']) || 'no result')
                         end
      end
    end
  end
end
