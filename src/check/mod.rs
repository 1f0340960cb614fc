//! `check`: findings about eyaml files and recipients files for CI and pre-commit hooks, made
//! with public keys at most. Each finding names a rule, a severity and a place; no finding ever
//! quotes a value, so a report can be printed and stored anywhere.
//!
//! ```
//! use eyaml_gpg::check::{Checker, Config, Rule};
//! use eyaml_gpg::Keystore;
//! use std::path::Path;
//!
//! let keys = Keystore::new();
//! let config = Config::default();
//! let checker = Checker::new(&keys, &config);
//! let text = "app::db_password: DEC::GPG[leaked]!\n";
//! let findings = checker.file(Path::new("common.eyaml"), text, None);
//! assert_eq!(findings[0].rule, Rule::DecMarker);
//! assert!(!findings[0].message.contains("leaked"));
//! ```

mod checker;
mod config;
mod hiera;
mod lines;
mod policy;
mod report;
mod rules;
mod secrets;

pub use checker::{Checker, RecipientsCheck};
pub use config::{Allow, Config, Require, CONFIG_FILE, DEFAULT_SECRET_KEYS};
pub use hiera::HieraGate;
pub use report::{FailOn, Report, Summary};
pub use rules::{Finding, Rule, Severity};
