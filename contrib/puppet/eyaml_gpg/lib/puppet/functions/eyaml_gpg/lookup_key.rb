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

  # The context cache key of the per-file plaintexts (binary mode); Hiera keys are never
  # symbols, so it cannot collide with a looked-up key.
  def plaintexts_key
    :eyaml_gpg_plaintexts
  end

  def eyaml_gpg_lookup_key(key, options, context)
    return context.cached_value(key) if context.cache_has_key(key)

    unless options.include?('path')
      raise ArgumentError,
            "'eyaml_gpg::lookup_key': one of 'path', 'paths' 'glob', 'globs' or 'mapped_paths' must be declared in hiera.yaml " \
            'when using this lookup_key function'
    end
    confine = options['confine_to_keys']
    if confine
      patterns = Array(confine).map { |r| Regexp.new(r.to_s) }
      context.not_found unless patterns.any? { |r| r =~ key }
    end

    raw_data = context.cached_value(nil)
    if raw_data.nil?
      raw_data = load_data_hash(options, context)
      context.cache(nil, raw_data)
    end
    context.not_found unless raw_data.include?(key)

    value = raw_data[key]
    plain = decrypt_tokens(PuppetX::EyamlGpg.tokens(value), raw_data, options, context)
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

  # Socket mode asks for the tokens of this value; binary mode decrypts every token of the
  # data file in one process and keeps the plaintexts for the next keys of the file.
  def decrypt_tokens(tokens, raw_data, options, context)
    return {} if tokens.empty?

    if options['socket']
      client = PuppetX::EyamlGpg::SocketClient.for(options['socket'].to_s)
      return PuppetX::EyamlGpg.decrypt(client, tokens)
    end
    known = context.cached_value(plaintexts_key) if context.cache_has_key(plaintexts_key)
    known ||= {}
    missing = tokens.reject { |t| known.key?(t) }
    unless missing.empty?
      client = PuppetX::EyamlGpg::BinaryClient.new(options)
      fresh = PuppetX::EyamlGpg.decrypt(client, (missing + PuppetX::EyamlGpg.tokens(raw_data)).uniq, known)
      good = fresh.reject { |_, v| v.is_a?(PuppetX::EyamlGpg::Error) }
      known = known.merge(good)
      context.cache(plaintexts_key, known)
      return known.merge(fresh)
    end
    known
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
