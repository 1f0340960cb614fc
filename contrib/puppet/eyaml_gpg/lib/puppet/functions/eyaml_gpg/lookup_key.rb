# A Hiera 5 `lookup_key` function that returns what Puppet's own `eyaml_lookup_key` returns
# for the same data and keys, with the `ENC[…]` tokens decrypted by eyaml-gpg: a running
# `eyaml-gpg serve` (option `socket`) or one `eyaml-gpg serve --once` process per data file
# (option `binary`, the default). See the module README for the options.
require_relative '../../../puppet_x/eyaml_gpg/client'

Puppet::Functions.create_function(:'eyaml_gpg::lookup_key') do
  dispatch :eyaml_gpg_lookup_key do
    param 'String[1]', :key
    param 'Hash[String[1],Any]', :options
    param 'Puppet::LookupContext', :context
  end

  # The context cache key of the data file's plaintexts (the context is per data file); Hiera
  # keys are never symbols, so it cannot collide with a looked-up key.
  def plaintexts_key
    :eyaml_gpg_plaintexts
  end

  # The compiled `confine_to_keys` regexes, or nil when every key may hold a secret.
  def confine_patterns(options)
    confine = options['confine_to_keys']
    return nil unless confine

    @confine ||= {}
    @confine[confine] ||= Array(confine).map { |r| Regexp.new(r.to_s) }
  end

  def eyaml_gpg_lookup_key(key, options, context)
    return context.cached_value(key) if context.cache_has_key(key)

    unless options.include?('path')
      raise ArgumentError,
            "'eyaml_gpg::lookup_key': one of 'path', 'paths' 'glob', 'globs' or 'mapped_paths' must be declared in hiera.yaml " \
            'when using this lookup_key function'
    end
    patterns = confine_patterns(options)
    context.not_found if patterns && patterns.none? { |r| r =~ key }

    raw_data = context.cached_value(nil)
    if raw_data.nil?
      raw_data = load_data_hash(options, context)
      context.cache(nil, raw_data)
    end
    context.not_found unless raw_data.include?(key)

    value = raw_data[key]
    plain = plaintexts(PuppetX::EyamlGpg.tokens(value).uniq, raw_data, patterns, options, context)
    context.cache(key, walk(value, plain, context, options, key))
  end

  # What Puppet's eyaml_lookup_key does, word for word.
  def load_data_hash(options, context)
    path = options['path']
    context.cached_file_data(path) do |content|
      begin
        data = Puppet::Util::Yaml.safe_load(content, [Symbol], path)
        if data.is_a?(Hash)
          Puppet::Pops::Lookup::HieraConfig.symkeys_to_string(data)
        else
          msg = format('%<path>s: file does not contain a valid yaml hash', path: path)
          raise Puppet::DataBinding::LookupError, msg if Puppet[:strict] == :error && data != false

          Puppet.warning(msg)
          {}
        end
      rescue Puppet::Util::Yaml::YamlLoadError => e
        raise Puppet::DataBinding::LookupError, format('Unable to parse %<message>s', message: e.message)
      end
    end
  end

  # Token => plaintext, or Error for a token of this key that cannot be decrypted. The first
  # key of a data file that needs decryption sends every token of the file (of the keys
  # confine_to_keys admits) in one request (socket) or one process (binary); the plaintexts
  # stay in the file's context for its other keys. They are tied to the parsed data (the
  # object Puppet's loader returned): a file parsed anew is decrypted anew. Failures are not
  # kept, so a service that was down is asked again at the next lookup.
  def plaintexts(tokens, raw_data, patterns, options, context)
    return {} if tokens.empty?

    state = context.cached_value(plaintexts_key) if context.cache_has_key(plaintexts_key)
    state = { data: raw_data, plain: {}, whole: false } unless state && state[:data].equal?(raw_data)
    plain = state[:plain]
    wanted = state[:whole] ? tokens : tokens + file_tokens(raw_data, patterns)
    wanted = wanted.uniq.reject { |t| plain.key?(t) }
    return plain if wanted.empty?

    results, failure = PuppetX::EyamlGpg.decrypt(client(options), wanted)
    errors = {}
    results.each do |t, p|
      if p.is_a?(PuppetX::EyamlGpg::Error)
        errors[t] = p
      else
        plain[t] = p
      end
    end
    state[:whole] ||= failure.nil?
    context.cache(plaintexts_key, state)
    tokens.each { |t| errors[t] ||= failure unless plain.key?(t) }
    errors.empty? ? plain : plain.merge(errors)
  end

  # Every token of the keys of a data file that confine_to_keys admits.
  def file_tokens(raw_data, patterns)
    out = []
    raw_data.each_pair do |k, v|
      PuppetX::EyamlGpg.tokens(v, out) if patterns.nil? || patterns.any? { |r| r =~ k }
    end
    out
  end

  def client(options)
    if options['socket']
      PuppetX::EyamlGpg::SocketClient.for(options['socket'].to_s)
    else
      PuppetX::EyamlGpg::BinaryClient.new(options)
    end
  end

  def walk(value, plain, context, options, key)
    case value
    when String
      decrypt(value, plain, context, options, key)
    when Hash
      result = {}
      value.each_pair { |k, v| result[context.interpolate(k)] = walk(v, plain, context, options, key) }
      result
    when Array
      value.map { |v| walk(v, plain, context, options, key) }
    else
      value
    end
  end

  def decrypt(data, plain, context, options, key)
    return context.interpolate(data) unless PuppetX::EyamlGpg.encrypted?(data)

    text = data.gsub(PuppetX::EyamlGpg::HIERA_TOKEN) do |token|
      p = plain[token]
      if p.nil? || p.is_a?(PuppetX::EyamlGpg::Error)
        why = p.nil? ? 'no result' : p.message
        raise Puppet::DataBinding::LookupError,
              "eyaml_gpg: cannot decrypt the value of #{key} in #{options['path']}: #{why}"
      end
      p
    end.chomp
    result = context.interpolate(text)
    options['sensitive'] ? Puppet::Pops::Types::PSensitiveType::Sensitive.new(result) : result
  end
end
