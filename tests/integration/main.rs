//! The integration tests, as one test binary: each module drives the real `eyaml-gpg` binary
//! (and real gpg, git, Puppet, Ruby eyaml where a feature touches them) through [`harness`].

mod harness;

mod agent_trips;
mod benches;
mod check;
mod core;
mod cross;
mod edit;
mod firstday;
mod gnupg;
mod hardening_data;
mod hardening_gaps;
mod hardening_io;
mod help_examples;
mod hiera;
mod hiera_gate;
mod hiera_level_keys;
mod interop;
mod keys;
mod lookup;
mod man;
mod merge;
mod migrate;
mod pkcs7;
mod psych;
mod recrypt;
mod serve;
mod serve_batch;
mod snapshots;
