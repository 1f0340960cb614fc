//! # eyaml-gpg
//!
//! A library and a command-line tool for hiera-eyaml files whose secrets are
//! `ENC[GPG,<base64 OpenPGP message>]` values, compatible with the Ruby `eyaml` and its
//! hiera-eyaml-gpg plugin. Crypto runs in process on Sequoia.
//!
//! ## Where things are
//!
//! | Concept | Module | Start with |
//! |---|---|---|
//! | Keys: key files, GnuPG home, gpg-agent, PKCS7 key files, recipients files | [`keys`] | [`KeySources`], [`Keystore`], [`keys::resolve_recipients`] |
//! | Encryption schemes (`GPG`, `PKCS7`) and what they read from a message | [`scheme`] | [`Scheme`], [`KeyMaterial`] |
//! | Lookups as Puppet's `eyaml_lookup_key` | [`hiera`], [`lookup`], [`value`] | [`Hierarchy`], [`Document`], [`Value`] |
//! | Whole-file decrypt and encrypt (`decrypt -e`, `encrypt -e`), the token grammar, the file-set walker | [`eyaml`] | [`eyaml::decrypt_to_dec`], [`eyaml::scan`], [`eyaml::Walk`] |
//! | The edit session and its save policy | [`edit`] | [`edit::Session`], [`edit::save`] |
//! | Stale values and their re-encryption | [`recrypt`] | [`recrypt::desired_for`], [`recrypt::Report`] |
//! | Lint of eyaml files | [`check`] | [`check::Checker`] |
//! | Git merge driver for eyaml files | [`merge`] | [`merge::Merger`] |
//! | Decryption service for Puppet Server | [`serve`] | [`serve::Options`] |
//! | Errors | [`error`] | [`Error`], [`Errors`] |
//!
//! Look a secret up as Puppet's Hiera would (`eyaml_lookup_key`): files in hierarchy order,
//! values decrypted only when looked up, then cached.
//!
//! ```
//! use std::sync::Arc;
//! use eyaml_gpg::hiera::{Hierarchy, Merge};
//! use eyaml_gpg::lookup::{Document, Lookup};
//! use eyaml_gpg::Keystore;
//! use std::path::Path;
//!
//! let mut keys = Keystore::new();
//! keys.load_path(Path::new("fixtures/reference/keys/bob.sec.asc"))?;
//! let data = Path::new("fixtures/reference/hieradata");
//! let hierarchy = Hierarchy::new(vec![
//!     Arc::new(Document::from_path(&data.join("development/app1/app1.eyaml"))?),
//!     Arc::new(Document::from_path(&data.join("production/plain-only.eyaml"))?),
//! ]);
//! let value = hierarchy.lookup("app1::db_password", Merge::First, &Lookup::new(&keys))?;
//! assert_eq!(value.as_ref().and_then(|v| v.as_str()), Some("dev-db-pass"));
//! // A decrypted value prints as JSON or YAML, but never through Debug.
//! assert_eq!(serde_json::to_string(&value)?, r#""dev-db-pass""#);
//! assert!(!format!("{value:?}").contains("dev-db-pass"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Or decrypt a whole file into edit form, as `eyaml decrypt -e` does:
//!
//! ```
//! use eyaml_gpg::{eyaml, scheme::Scheme, Keystore};
//! use std::path::Path;
//!
//! let mut keys = Keystore::new();
//! keys.load_path(Path::new("fixtures/reference/keys/bob.sec.asc"))?;
//! let file = Path::new("fixtures/reference/hieradata/development/app1/app1.eyaml");
//! let text = std::fs::read_to_string(file)?;
//! let out = eyaml::decrypt_to_dec(&keys, &text, Scheme::Gpg, file)?;
//! assert!(out.as_str().unwrap().contains("app1::db_password: DEC::GPG[dev-db-pass]!"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(unnameable_types)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod check;
pub mod edit;
pub mod error;
pub mod exposure;
pub mod eyaml;
pub mod hiera;
pub mod keys;
pub mod leftover;
pub mod lock;
pub mod lookup;
pub mod merge;
pub mod recrypt;
pub mod roster;
pub mod scheme;
pub mod serve;
pub mod value;

// The fuzz targets' entry points (fuzz/): not API, compiled for them and for the replay test.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

// Internals: reached through the re-exports of the public modules above.
pub(crate) mod crypto;
pub(crate) mod datetime;
pub(crate) mod fsutil;
pub(crate) mod git;
pub(crate) mod gnupg;
pub(crate) mod pgp;
pub(crate) mod pkcs7;
pub(crate) mod recipients;
pub(crate) mod stale;
pub(crate) mod token;
pub(crate) mod tree;
pub(crate) mod yaml;

pub use crypto::AeadMode;
pub use error::{Error, Errors, Result};
pub use hiera::{Hierarchy, Merge};
pub use keys::KeySources;
pub use lookup::{Decryptor, Document, Lookup};
pub use pgp::Keystore;
pub use scheme::{KeyMaterial, Scheme};
pub use value::Value;
