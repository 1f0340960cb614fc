//! `lookup`: one key across data files, with Hiera's merge strategies, printed as YAML or JSON.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use eyaml_gpg::hiera::{Hierarchy, Merge};
use eyaml_gpg::lookup::{Document, Lookup};
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
    let merge = match args.merge {
        MergeArg::First => Merge::First,
        MergeArg::Unique => Merge::Unique,
        MergeArg::Hash => Merge::Hash,
        MergeArg::Deep => Merge::Deep,
    };
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
