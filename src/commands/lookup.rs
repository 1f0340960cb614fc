//! `lookup`: one key across data files, with Hiera's merge strategies, or through a Hiera 5
//! `hiera.yaml` for a node, printed as YAML or JSON.

use std::process::ExitCode;

use anyhow::{anyhow, Context as _, Result};
use eyaml_gpg::hiera::scope::load_facts;
use eyaml_gpg::hiera::{DeepOptions, Hiera, Hierarchy, LevelKeyLoader, Merge, MergeSpec, Scope};
use eyaml_gpg::lookup::Lookup;
use eyaml_gpg::scheme::Material;
use eyaml_gpg::value;
use eyaml_gpg::value::Map;

use super::{emit, Context};
use crate::cli::{LookupArgs, LookupFormat, MergeArg};

/// Runs `lookup`.
pub fn run(ctx: &Context, args: &LookupArgs) -> Result<ExitCode> {
    if let Some(config) = &args.hiera {
        return run_hiera(ctx, args, config);
    }
    for path in &args.files {
        // Hiera skips a path that does not exist; say so, since here the user named it.
        if !path.exists() {
            ctx.ui.warn(&format!(
                "{}: no such file (skipped, as Hiera skips a missing path)",
                path.display()
            ));
        }
    }
    let hierarchy = Hierarchy::from_paths(&args.files)?;
    for doc in hierarchy.documents() {
        ctx.ui.debug(&format!(
            "{}: {} keys",
            doc.path().display(),
            doc.keys().count()
        ));
    }
    let store = ctx.keystore()?;
    let pkcs7 = ctx.pkcs7_keys();
    let keys = Material {
        gpg: &store,
        pkcs7: &pkcs7,
    };
    let merge = args.merge.map(strategy).unwrap_or_default();
    let found = hierarchy
        .lookup(&args.key, merge, &Lookup::new(&keys))
        .with_context(|| format!("Lookup of key '{}' failed", args.key))?;
    let Some(value) = found else {
        let files: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
        // Not an error of the tool: the key is simply absent, as Puppet reports it.
        ctx.ui.error(&format!(
            "Function lookup() did not find a value for the name '{}' (searched {})",
            args.key,
            files.join(", ")
        ));
        return Ok(ExitCode::FAILURE);
    };
    let text = match args.format {
        LookupFormat::Yaml => value::to_yaml(&value),
        LookupFormat::Json => serde_json::to_string(&value)? + "\n",
    };
    emit(text.as_bytes(), false)
}

fn strategy(m: MergeArg) -> Merge {
    match m {
        MergeArg::First => Merge::First,
        MergeArg::Unique => Merge::Unique,
        MergeArg::Hash => Merge::Hash,
        MergeArg::Deep => Merge::Deep,
    }
}

/// `lookup --hiera`: the environment layer of `puppet lookup --node N --facts F`.
fn run_hiera(ctx: &Context, args: &LookupArgs, config: &std::path::Path) -> Result<ExitCode> {
    let facts = match &args.facts {
        Some(path) => load_facts(path)?,
        None => match &args.node {
            // As `puppet lookup --node` without facts (none cached here).
            Some(node) => return Err(anyhow!("No facts available for target node: {node}")),
            None => Map::new(),
        },
    };
    let hiera = Hiera::from_config(config, Scope::new(facts, &args.environment))?.with_level_keys(
        LevelKeyLoader::new(ctx.key_sources(), ctx.settings.pkcs7.clone()),
    );
    let merge = args.merge.map(|m| MergeSpec {
        strategy: strategy(m),
        deep: DeepOptions {
            knockout_prefix: args.knock_out_prefix.clone(),
            sort_merged_arrays: args.sort_merged_arrays,
            merge_hash_arrays: args.merge_hash_arrays,
        },
    });
    let store = ctx.keystore()?;
    let pkcs7 = ctx.pkcs7_keys();
    let keys = Material {
        gpg: &store,
        pkcs7: &pkcs7,
    };
    let mut explain = Vec::new();
    let found = hiera.lookup(
        &args.key,
        merge.as_ref(),
        &keys,
        args.explain.then_some(&mut explain),
    );
    if args.explain {
        let mut text = explain.join("\n") + "\n";
        match &found {
            Ok(Some(f)) => text.push_str(&format!("Result: {}\n", render(f, args.format))),
            Ok(None) => text.push_str("No value found\n"),
            Err(e) => text.push_str(&format!("Error: {e}\n")),
        }
        return emit(text.as_bytes(), false);
    }
    let found = found.with_context(|| format!("Lookup of key '{}' failed", args.key))?;
    let Some(found) = found else {
        ctx.ui.error(&format!(
            "Function lookup() did not find a value for the name '{}'",
            args.key
        ));
        return Ok(ExitCode::FAILURE);
    };
    let text = render(&found, args.format) + "\n";
    emit(text.as_bytes(), false)
}

/// A found value as `puppet lookup --render-as json` prints it, or as YAML (a Sensitive value
/// is redacted in both; Puppet's YAML would show it).
fn render(found: &eyaml_gpg::hiera::Found, format: LookupFormat) -> String {
    match format {
        LookupFormat::Json => found.to_json(),
        LookupFormat::Yaml if found.sensitive => {
            format!("--- {}", eyaml_gpg::hiera::environment::SENSITIVE_REDACTED)
        }
        LookupFormat::Yaml => value::to_yaml(&found.value)
            .trim_end_matches('\n')
            .to_string(),
    }
}
