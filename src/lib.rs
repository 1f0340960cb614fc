//! # eyaml-gpg
//!
//! A library and a command-line tool for hiera-eyaml files whose secrets are
//! `ENC[GPG,<base64 OpenPGP message>]` values, compatible with the Ruby `eyaml` and its
//! hiera-eyaml-gpg plugin. Crypto runs in process on Sequoia.
//!
//! ```
//! use eyaml_gpg::{crypto::Backend, eyaml, pgp::Keystore};
//! use std::path::Path;
//!
//! let mut keys = Keystore::new();
//! keys.load_path(Path::new("fixtures/reference/keys/bob.sec.asc"))?;
//! let file = Path::new("fixtures/reference/hieradata/development/app1/app1.eyaml");
//! let text = std::fs::read_to_string(file)?;
//! let out = eyaml::decrypt_to_dec(&keys, &text, &eyaml::Method::default(), file)
//!     .map_err(|errors| errors.into_iter().next().unwrap())?;
//! assert!(out.text.contains("app1::db_password: DEC::GPG[dev-db-pass]!"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod crypto;
pub mod error;
pub mod eyaml;
pub mod fsutil;
pub mod pgp;
pub mod recipients;
pub mod recrypt;
pub mod stale;
pub mod token;

pub use error::{Error, Result};
