//! The one-value cost that bounds `recrypt`: for each value of the files named, one decryption
//! and one encryption to the same recipients, single-threaded, in process (the library calls
//! `recrypt` makes, without its file walk, inspection, rendering and writing). Used by
//! `benches/recrypt.sh`.
//!
//! Usage: `recrypt_cost KEYRING... -- RECIPIENT,RECIPIENT,... FILE...`
//! Prints `values=N cpu_ms=C sum_ms=S per_value_ms=P (decrypt D + encrypt E)`: `cpu_ms` is the
//! thread's CPU time over the loop (load-independent), the others wall time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eyaml_gpg::eyaml;
use eyaml_gpg::eyaml::{Kinds, Token};
use eyaml_gpg::scheme::Backend;
use eyaml_gpg::scheme::{self, Scheme};
use eyaml_gpg::Keystore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args
        .iter()
        .position(|a| a == "--")
        .ok_or("usage: recrypt_cost KEYRING... -- RECIPIENTS FILE...")?;
    let mut store = Keystore::new();
    for k in &args[..split] {
        store.load_path(Path::new(k))?;
    }
    let names: Vec<String> = args[split + 1].split(',').map(str::to_string).collect();
    let keys = eyaml::resolve_all(&store, &names)?;
    let files: Vec<PathBuf> = args[split + 2..].iter().map(PathBuf::from).collect();
    let method = Scheme::Gpg;
    let cpu_start = thread_cpu_ns();
    let mut values = 0usize;
    let mut total = Duration::ZERO;
    let mut decrypting = Duration::ZERO;
    for f in &files {
        let text = std::fs::read_to_string(f)?;
        for t in eyaml::scan(&text, Kinds::ENC) {
            if let Token::Enc(e) = &t.token {
                let start = Instant::now();
                let plain = scheme::decrypt(&store, e, method)?;
                decrypting += start.elapsed();
                let message = store.encrypt(&keys, &plain)?;
                total += start.elapsed();
                std::hint::black_box(message);
                values += 1;
            }
        }
    }
    let cpu_ms = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!("{:.1}", (b - a) as f64 / 1e6),
        _ => "unknown".into(),
    };
    let ms = total.as_secs_f64() * 1000.0;
    let n = values.max(1) as f64;
    let dec = decrypting.as_secs_f64() * 1000.0;
    println!(
        "values={values} cpu_ms={cpu_ms} sum_ms={ms:.1} per_value_ms={:.4} (decrypt {:.4} + encrypt {:.4})",
        ms / n,
        dec / n,
        (ms - dec) / n
    );
    Ok(())
}

/// CPU time of this thread in nanoseconds (Linux `schedstat`): unlike wall time, it does not
/// grow when other processes share the cores.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
