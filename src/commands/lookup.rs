//! `lookup`: one key across data files, with Hiera's merge strategies, or through a Hiera 5
//! `hiera.yaml` for a node, printed as YAML or JSON.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use eyaml_gpg::hiera::scope::load_facts;
use eyaml_gpg::hiera::{DeepOptions, Hiera, Hierarchy, Merge, MergeSpec, Scope};
use eyaml_gpg::lookup::{Document, Lookup};
use eyaml_gpg::value::Map;
use eyaml_gpg::yaml;

use super::{emit, Context};
use crate::cli::{LookupArgs, LookupFormat, MergeArg};

/// A key that no file holds: exit 1.
#[derive(Debug)]
struct NotFound(String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// Runs `lookup`.
pub fn run(ctx: &Context, args: &LookupArgs) -> Result<()> {
    if let Some(config) = &args.hiera {
        return run_hiera(ctx, args, config);
    }
    let mut docs = Vec::new();
    for path in &args.files {
        // Hiera skips a path that does not exist; say so, since here the user named it.
        if !path.exists() {
            ctx.ui.warn(&format!(
                "{}: no such file (skipped, as Hiera skips a missing path)",
                path.display()
            ));
            docs.push(Arc::new(Document::parse("", path)?));
            continue;
        }
        let doc = Document::from_path(path)?;
        ctx.ui
            .debug(&format!("{}: {} keys", path.display(), doc.keys().count()));
        docs.push(Arc::new(doc));
    }
    let store = ctx.keystore()?;
    let merge = args.merge.map(strategy).unwrap_or_default();
    let hierarchy = Hierarchy::new(docs);
    let found = hierarchy
        .lookup(&args.key, merge, &Lookup::new(&store))
        .with_context(|| format!("Lookup of key '{}' failed", args.key))?;
    let Some(value) = found else {
        let files: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
        return Err(NotFound(format!(
            "Function lookup() did not find a value for the name '{}' (searched {})",
            args.key,
            files.join(", ")
        ))
        .into());
    };
    let text = match args.format {
        LookupFormat::Yaml => yaml::to_string(&value),
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
fn run_hiera(ctx: &Context, args: &LookupArgs, config: &std::path::Path) -> Result<()> {
    let facts = match &args.facts {
        Some(path) => load_facts(path)?,
        None => match &args.node {
            // As `puppet lookup --node` without facts (none cached here).
            Some(node) => {
                return Err(NotFound(format!("No facts available for target node: {node}")).into())
            }
            None => Map::new(),
        },
    };
    let hiera = Hiera::from_config(config, Scope::new(facts, &args.environment))?;
    let merge = args.merge.map(|m| MergeSpec {
        strategy: strategy(m),
        deep: DeepOptions {
            knockout_prefix: args.knock_out_prefix.clone(),
            sort_merged_arrays: args.sort_merged_arrays,
            merge_hash_arrays: args.merge_hash_arrays,
        },
    });
    let store = ctx.keystore()?;
    let mut explain = Vec::new();
    let found = hiera.lookup(
        &args.key,
        merge.as_ref(),
        &store,
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
        return Err(NotFound(format!(
            "Function lookup() did not find a value for the name '{}'",
            args.key
        ))
        .into());
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
        LookupFormat::Yaml => yaml::to_string(&found.value)
            .trim_end_matches('\n')
            .to_string(),
    }
}
