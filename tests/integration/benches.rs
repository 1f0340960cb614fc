//! The benchmark scripts are not run by the tests (no timed tests; `benches/all.sh` takes
//! minutes), but they must at least parse, and `benches/all.sh` must refuse what it does not
//! understand before doing any work.

use std::process::Command;

use crate::harness::*;

fn script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(name)
}

#[test]
fn every_bench_script_parses() {
    if !require(&["bash"]) {
        return;
    }
    let dir = script("");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "sh") {
            let o = Command::new("bash").arg("-n").arg(&path).output().unwrap();
            assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
            n += 1;
        }
    }
    assert!(n >= 2, "no scripts found in {}", dir.display());
}

#[test]
fn all_sh_usage_and_bad_arguments() {
    if !require(&["bash"]) {
        return;
    }
    let o = Command::new("bash")
        .arg(script("all.sh"))
        .arg("--help")
        .output()
        .unwrap();
    let help = stdout(ok(&o));
    for option in ["--quick", "--update-readme", "--bin PATH"] {
        assert!(help.contains(option), "{help}");
    }
    let o = Command::new("bash")
        .arg(script("all.sh"))
        .arg("--fast")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown argument --fast"),
        "{}",
        stderr(&o)
    );
    // The README section the script rewrites is there.
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let begin = readme
        .find("<!-- bench:begin -->")
        .expect("bench:begin marker");
    let end = readme.find("<!-- bench:end -->").expect("bench:end marker");
    assert!(begin < end);
}
