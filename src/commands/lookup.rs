//! `lookup`: one key across data files, with Hiera's merge strategies, printed as YAML or JSON.

use anyhow::{Context as _, Result};
use eyaml_gpg::hiera::{Hierarchy, Merge};
use eyaml_gpg::lookup::Lookup;
use eyaml_gpg::yaml;
use std::process::ExitCode;

use super::{emit, Context};
use crate::cli::{LookupArgs, LookupFormat, MergeArg};

/// Runs `lookup`.
pub fn run(ctx: &Context, args: &LookupArgs) -> Result<ExitCode> {
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
    let merge = match args.merge {
        MergeArg::First => Merge::First,
        MergeArg::Unique => Merge::Unique,
        MergeArg::Hash => Merge::Hash,
        MergeArg::Deep => Merge::Deep,
    };
    let found = hierarchy
        .lookup(&args.key, merge, &Lookup::new(&store))
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
        LookupFormat::Yaml => yaml::to_string(&value),
        LookupFormat::Json => serde_json::to_string(&value)? + "\n",
    };
    emit(text.as_bytes(), false)
}
