//! The Psych parity suite: every `fixtures/psych/NAME.yaml` read by our YAML adapter must give
//! the JSON that Ruby's Psych gives in Puppet (`NAME.json`), or fail where Psych fails
//! (`NAME.error`). The expectations come from `fixtures/psych/generate.sh` (real Ruby).

use std::fs;
use std::path::Path;

#[test]
fn psych_parity() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/psych");
    let mut cases = 0;
    let mut failures = Vec::new();
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    names.sort();
    for yaml in names {
        let name = yaml.file_stem().unwrap().to_string_lossy().to_string();
        let text = fs::read_to_string(&yaml).unwrap();
        let ours = eyaml_gpg::value::load_yaml(&text);
        let json = yaml.with_extension("json");
        let error = yaml.with_extension("error");
        cases += 1;
        if json.exists() {
            // Compared as text, so hash order counts too (Ruby's JSON and ours print numbers
            // and strings alike for these cases).
            let expected = fs::read_to_string(&json).unwrap().trim_end().to_string();
            match ours {
                Ok(v) => {
                    let got = serde_json::to_string(&v).unwrap();
                    if got != expected {
                        failures.push(format!("{name}: expected {expected}, got {got}"));
                    }
                }
                Err(e) => failures.push(format!("{name}: expected {expected}, got error {e}")),
            }
        } else if error.exists() {
            let message = fs::read_to_string(&error).unwrap();
            if let Ok(v) = ours {
                failures.push(format!(
                    "{name}: Psych fails ({}), we read {}",
                    message.trim(),
                    v.to_json()
                ));
            }
        } else {
            panic!("{name}: no {name}.json or {name}.error; run fixtures/psych/generate.sh");
        }
    }
    assert!(cases >= 40, "only {cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ from Psych:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
