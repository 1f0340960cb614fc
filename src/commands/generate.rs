//! `generate`: man pages (one per subcommand) and shell completions, from the clap definitions.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::cli::{Cli, Generate, GenerateArgs};

/// Runs `generate`.
pub fn run(args: &GenerateArgs) -> Result<ExitCode> {
    match &args.what {
        Generate::Man { dir } => write_man_pages(dir).map(|()| ExitCode::SUCCESS),
        Generate::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "eyaml-gpg", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = Cli::command();
    let mut pages = vec![("eyaml-gpg".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("eyaml-gpg-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(page).render(&mut buf)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
