//! `check`: gathers the files (work tree or git index), their nearest recipients files and the
//! public keys, runs the library's rules and prints the findings as text, JSON or GitHub
//! workflow annotations.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result};
use eyaml_gpg::check::{glob_match, Checker, Config, Finding, RecipientsCheck, Rule, Severity};
use eyaml_gpg::eyaml;
use eyaml_gpg::recipients::{self, RECIPIENTS_FILE};
use rayon::prelude::*;

use super::Context;
use crate::cli::{CheckArgs, CheckFormat, FailOn};
use crate::common::{usage, UsageError};

/// The configuration file looked for at or above the current directory.
pub const CONFIG_FILE: &str = ".eyaml-gpg-check.yaml";

/// One file to check.
struct Item {
    display: PathBuf,
    bytes: Vec<u8>,
    /// Key of its nearest recipients file in [`Tree::recipients`].
    recipients: Option<String>,
}

/// A recipients file.
struct RecipientsEntry {
    display: PathBuf,
    bytes: Vec<u8>,
}

/// What a run looks at.
#[derive(Default)]
struct Tree {
    files: Vec<Item>,
    recipients: BTreeMap<String, RecipientsEntry>,
}

/// Runs `check`; the exit code says whether findings reached `--fail-on`.
pub fn run(ctx: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let method = ctx.method()?;
    let mut config = load_config(args)?;
    for id in &args.skip {
        match Rule::from_id(id) {
            Some(r) => {
                config.skip.insert(r);
            }
            None => {
                return usage(format!(
                    "--skip: unknown rule {id:?} (rules: {})",
                    Rule::ALL.map(|r| r.id()).join(", ")
                ))
            }
        }
    }
    if let Some(d) = args.expiry_warning {
        config.expiry_warning = std::time::Duration::from_secs(d * 86400);
    }
    let mut patterns = vec!["*.eyaml".to_string()];
    patterns.extend(args.glob.iter().cloned());
    let tree = if args.staged {
        staged_tree(&args.paths, &patterns)?
    } else {
        work_tree(&args.paths, &patterns)?
    };
    ctx.ui.debug(&format!(
        "checking {} file(s), {} recipients file(s)",
        tree.files.len(),
        tree.recipients.len()
    ));

    let mut store = ctx.keystore()?;
    // Only key ids are compared: trust matters for encrypting, not for checking.
    store.set_always_trust(true);
    let keys_needed =
        config.applies(Rule::StaleRecipients) || config.applies(Rule::UnknownRecipient);
    let option_recipients = !ctx.settings.recipients.is_empty();
    let needs_resolution = option_recipients
        || ctx.settings.recipients_file.is_some()
        || tree.files.iter().any(|f| f.recipients.is_some());
    if store.is_empty() && keys_needed && needs_resolution {
        return usage(
            "no public keys loaded: check compares each value's recipients with the public keys \
             its recipients file names; give them with --gpg-keyring FILE|DIR (or a GnuPG home), \
             or skip that comparison with --skip stale-recipients --skip unknown-recipient",
        );
    }
    let resolve = !store.is_empty();
    let checker = Checker::new(&store, &config).with_method(method);

    let mut findings: Vec<Finding> = Vec::new();
    // Recipients that apply to every file, from the options.
    let global: Option<RecipientsCheck> = if option_recipients {
        let r = recipients::resolve(&ctx.settings.recipients, None, None)?;
        let keys = eyaml::resolve_all(&store, &r.names)
            .map_err(|e| UsageError(format!("--gpg-recipients: {e}")))?;
        Some(RecipientsCheck::from_keys(keys))
    } else if let Some(f) = &ctx.settings.recipients_file {
        let bytes = std::fs::read(f).map_err(|e| eyaml_gpg::Error::io(f, e))?;
        let rc = checker.recipients(f, &String::from_utf8_lossy(&bytes), resolve);
        findings.extend(rc.findings.iter().cloned());
        Some(rc)
    } else {
        None
    };
    let mut by_file: HashMap<&str, RecipientsCheck> = HashMap::new();
    if global.is_none() {
        for (key, r) in &tree.recipients {
            let rc = checker.recipients(&r.display, &String::from_utf8_lossy(&r.bytes), resolve);
            findings.extend(rc.findings.iter().cloned());
            by_file.insert(key.as_str(), rc);
        }
    }
    let per_file: Vec<Vec<Finding>> = tree
        .files
        .par_iter()
        .map(|item| {
            let rc = match &global {
                Some(g) => Some(g),
                None => item.recipients.as_deref().and_then(|k| by_file.get(k)),
            };
            match std::str::from_utf8(&item.bytes) {
                Ok(text) => checker.file(&item.display, text, rc),
                Err(e) => vec![Finding {
                    rule: Rule::Yaml,
                    severity: Severity::Error,
                    path: item.display.clone(),
                    line: 1,
                    column: 1,
                    message: format!(
                        "the file is not UTF-8 text (invalid byte at offset {})",
                        e.valid_up_to()
                    ),
                    key: None,
                }],
            }
        })
        .collect();
    findings.extend(per_file.into_iter().flatten());
    config.filter(&mut findings);
    findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, a.rule).cmp(&(&b.path, b.line, b.column, b.rule))
    });

    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    let out = match args.format {
        CheckFormat::Human => human(&findings),
        CheckFormat::Json => json(&findings, tree.files.len(), errors, warnings),
        CheckFormat::Github => github(&findings),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if ctx.ui.level >= 1 && args.format == CheckFormat::Human {
        eprintln!(
            "eyaml-gpg: checked {} file(s): {errors} error(s), {warnings} warning(s)",
            tree.files.len()
        );
    }
    let failing = match args.fail_on {
        FailOn::Never => false,
        FailOn::Warning => !findings.is_empty(),
        FailOn::Error => errors > 0,
    };
    Ok(ExitCode::from(u8::from(failing)))
}

fn load_config(args: &CheckArgs) -> Result<Config> {
    let path = match &args.config {
        Some(p) => {
            if !p.is_file() {
                return usage(format!("{}: config file does not exist", p.display()));
            }
            Some(p.clone())
        }
        None => std::env::current_dir().ok().and_then(|d| {
            d.ancestors()
                .map(|a| a.join(CONFIG_FILE))
                .find(|f| f.is_file())
        }),
    };
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| UsageError(format!("{}: cannot read config file: {e}", path.display())))?;
    Config::from_yaml(&text, &path).map_err(|e| UsageError(e.to_string()).into())
}

/// Whether a file is selected by the patterns: a pattern with a `/` matches the path below
/// the walked directory, others the file name.
fn selected(patterns: &[String], rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    patterns.iter().any(|p| {
        if p.contains('/') {
            glob_match(p, rel)
        } else {
            glob_match(p, name)
        }
    })
}

/// A path without `./` components, for display.
fn clean(p: &Path) -> PathBuf {
    let out: PathBuf = p
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

fn work_tree(paths: &[PathBuf], patterns: &[String]) -> Result<Tree> {
    let mut tree = Tree::default();
    let mut seen_files = std::collections::HashSet::new();
    let cwd = std::env::current_dir()
        .and_then(|d| d.canonicalize())
        .unwrap_or_default();
    let mut walk_roots: Vec<PathBuf> = Vec::new();
    let mut explicit: Vec<PathBuf> = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| UsageError(format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            walk_roots.push(p.clone());
        } else if p.file_name().is_some_and(|n| n == RECIPIENTS_FILE) {
            // A changed recipients file: check it and everything it governs.
            walk_roots.push(p.parent().map(Path::to_path_buf).unwrap_or_default());
        } else {
            explicit.push(p.clone());
        }
    }
    let add_recipients = |tree: &mut Tree, path: &Path| -> Result<Option<String>> {
        let real = path
            .canonicalize()
            .map_err(|e| eyaml_gpg::Error::io(path, e))?;
        let key = real.to_string_lossy().into_owned();
        if !tree.recipients.contains_key(&key) {
            let display = match real.strip_prefix(&cwd) {
                Ok(rel) if !cwd.as_os_str().is_empty() => clean(rel),
                _ => real.clone(),
            };
            let bytes = std::fs::read(&real).map_err(|e| eyaml_gpg::Error::io(&real, e))?;
            tree.recipients
                .insert(key.clone(), RecipientsEntry { display, bytes });
        }
        Ok(Some(key))
    };
    let mut candidates: Vec<PathBuf> = explicit;
    for root in &walk_roots {
        let root_dir = if root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            root.as_path()
        };
        let walker = walkdir::WalkDir::new(root_dir)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || e.file_name() != ".git");
        for entry in walker {
            let entry = entry.map_err(|e| anyhow::anyhow!("{e}"))?;
            // A symbolic link to a file is checked like the file (as `recrypt` does).
            let is_file =
                entry.file_type().is_file() || (entry.path_is_symlink() && entry.path().is_file());
            if !is_file {
                continue;
            }
            let path = entry.path();
            if entry.file_name() == RECIPIENTS_FILE {
                add_recipients(&mut tree, path)?;
                continue;
            }
            let rel = path
                .strip_prefix(root_dir)
                .unwrap_or(path)
                .to_string_lossy()
                .replace('\\', "/");
            if selected(patterns, &rel) {
                candidates.push(path.to_path_buf());
            }
        }
    }
    let mut nearest_cache: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
    for path in candidates {
        let real = path.canonicalize().unwrap_or_else(|_| path.clone());
        if !seen_files.insert(real) {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| eyaml_gpg::Error::io(&path, e))?;
        let dir = recipients::target_dir(&path);
        let nearest = nearest_cache
            .entry(dir.clone())
            .or_insert_with(|| recipients::find_file(&dir))
            .clone();
        let recipients = match nearest {
            Some(r) => add_recipients(&mut tree, &r)?,
            None => None,
        };
        tree.files.push(Item {
            display: clean(&path),
            bytes,
            recipients,
        });
    }
    Ok(tree)
}

fn git(args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| UsageError(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(UsageError(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .into());
    }
    Ok(out.stdout)
}

/// Reads objects from the repository in one `git cat-file --batch` run.
fn cat_files(top: &str, ids: &[String]) -> Result<Vec<Vec<u8>>> {
    let mut child = Command::new("git")
        .args(["-C", top, "cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| UsageError(format!("cannot run git: {e}")))?;
    let mut input = child.stdin.take().expect("piped stdin");
    let request: String = ids.iter().map(|i| format!("{i}\n")).collect();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(request.as_bytes());
    });
    let out = child.wait_with_output().context("git cat-file")?;
    let _ = writer.join();
    let data = out.stdout;
    let mut objects = Vec::with_capacity(ids.len());
    let mut pos = 0;
    for id in ids {
        let nl = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + pos)
            .ok_or_else(|| anyhow::anyhow!("git cat-file: short output for {id}"))?;
        let header = String::from_utf8_lossy(&data[pos..nl]).into_owned();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("git cat-file: {header}"))?;
        let start = nl + 1;
        objects.push(data[start..start + size].to_vec());
        pos = start + size + 1;
    }
    Ok(objects)
}

/// Joins a repository path onto a prefix, lexically (`a/b` + `../c` = `a/c`).
fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn staged_tree(paths: &[PathBuf], patterns: &[String]) -> Result<Tree> {
    let top = String::from_utf8_lossy(&git(&["rev-parse", "--show-toplevel"])?)
        .trim()
        .to_string();
    let prefix = String::from_utf8_lossy(&git(&["rev-parse", "--show-prefix"])?)
        .trim()
        .to_string();
    let listing = git(&["-C", &top, "ls-files", "-s", "-z"])?;
    // Stage-0 regular files of the index: repository path -> blob id.
    let mut index: BTreeMap<String, String> = BTreeMap::new();
    for rec in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rec = String::from_utf8_lossy(rec);
        let Some((meta, path)) = rec.split_once('\t') else {
            continue;
        };
        let mut f = meta.split(' ');
        let (mode, id, stage) = (f.next(), f.next(), f.next());
        if stage != Some("0") || !matches!(mode, Some("100644" | "100755")) {
            continue;
        }
        index.insert(path.to_string(), id.unwrap_or_default().to_string());
    }
    let depth = prefix.matches('/').count();
    let display = |repo_path: &str| -> PathBuf {
        match repo_path.strip_prefix(prefix.as_str()) {
            Some(rest) => PathBuf::from(rest),
            None => PathBuf::from(format!("{}{repo_path}", "../".repeat(depth))),
        }
    };
    let args: Vec<(String, bool)> = paths
        .iter()
        .map(|p| {
            let repo = match p.strip_prefix(&top) {
                Ok(rel) if p.is_absolute() => normalize(&rel.to_string_lossy()),
                _ => normalize(&format!("{prefix}{}", p.to_string_lossy())),
            };
            let is_file = index.contains_key(&repo);
            (repo, is_file)
        })
        .collect();
    let mut chosen: Vec<String> = Vec::new();
    let mut roots: Vec<String> = Vec::new();
    for (repo, is_file) in &args {
        if *is_file && !repo.ends_with(RECIPIENTS_FILE) {
            chosen.push(repo.clone());
        } else if *is_file {
            roots.push(
                repo.rsplit_once('/')
                    .map(|(d, _)| d.to_string())
                    .unwrap_or_default(),
            );
        } else {
            roots.push(repo.clone());
        }
    }
    let under =
        |root: &str, p: &str| root.is_empty() || p == root || p.starts_with(&format!("{root}/"));
    let mut walked_recipients: Vec<String> = Vec::new();
    for p in index.keys() {
        let Some(root) = roots.iter().find(|r| under(r, p)) else {
            continue;
        };
        if p.rsplit('/').next() == Some(RECIPIENTS_FILE) {
            walked_recipients.push(p.clone());
            continue;
        }
        let rel = if root.is_empty() {
            p.as_str()
        } else {
            &p[root.len() + 1..]
        };
        if selected(patterns, rel) && !chosen.contains(p) {
            chosen.push(p.clone());
        }
    }
    chosen.sort();
    // The nearest recipients file: in the index, else on disk above the repository.
    let above_repo = Path::new(&top).parent().and_then(recipients::find_file);
    let nearest = |p: &str| -> Option<String> {
        let mut dir = p.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        loop {
            let candidate = if dir.is_empty() {
                RECIPIENTS_FILE.to_string()
            } else {
                format!("{dir}/{RECIPIENTS_FILE}")
            };
            if index.contains_key(&candidate) {
                return Some(candidate);
            }
            if dir.is_empty() {
                return None;
            }
            dir = dir.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        }
    };
    let mut tree = Tree::default();
    let mut needed: Vec<String> = walked_recipients;
    let file_recipients: Vec<Option<String>> = chosen.iter().map(|p| nearest(p)).collect();
    needed.extend(file_recipients.iter().flatten().cloned());
    needed.sort();
    needed.dedup();
    let mut ids: Vec<String> = chosen.iter().map(|p| index[p].clone()).collect();
    ids.extend(needed.iter().map(|p| index[p].clone()));
    let mut objects = cat_files(&top, &ids)?.into_iter();
    for (p, r) in chosen.iter().zip(&file_recipients) {
        let bytes = objects.next().unwrap_or_default();
        let recipients = match r {
            Some(r) => Some(r.clone()),
            None => above_repo
                .as_ref()
                .map(|f| f.to_string_lossy().into_owned()),
        };
        tree.files.push(Item {
            display: display(p),
            bytes,
            recipients,
        });
    }
    for p in &needed {
        let bytes = objects.next().unwrap_or_default();
        tree.recipients.insert(
            p.clone(),
            RecipientsEntry {
                display: display(p),
                bytes,
            },
        );
    }
    if let Some(f) = above_repo {
        if tree
            .files
            .iter()
            .any(|i| i.recipients.as_deref() == Some(&*f.to_string_lossy()))
        {
            let bytes = std::fs::read(&f).map_err(|e| eyaml_gpg::Error::io(&f, e))?;
            tree.recipients.insert(
                f.to_string_lossy().into_owned(),
                RecipientsEntry {
                    display: f.clone(),
                    bytes,
                },
            );
        }
    }
    Ok(tree)
}

fn human(findings: &[Finding]) -> String {
    findings.iter().map(|f| format!("{f}\n")).collect()
}

fn json(findings: &[Finding], files: usize, errors: usize, warnings: usize) -> String {
    let list: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "rule": f.rule.id(),
                "severity": f.severity.as_str(),
                "path": f.path.to_string_lossy(),
                "line": f.line,
                "column": f.column,
                "key": f.key,
                "message": f.message,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "version": 1,
        "files_checked": files,
        "summary": {"errors": errors, "warnings": warnings},
        "findings": list,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// GitHub workflow commands: `::error file=…,line=…,col=…,title=…::message`.
fn github(findings: &[Finding]) -> String {
    fn data(s: &str) -> String {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn property(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    findings
        .iter()
        .map(|f| {
            format!(
                "::{} file={},line={},col={},title={}::{}\n",
                f.severity,
                property(&f.path.to_string_lossy()),
                f.line,
                f.column,
                property(&format!("eyaml-gpg {}", f.rule)),
                data(&f.message)
            )
        })
        .collect()
}
