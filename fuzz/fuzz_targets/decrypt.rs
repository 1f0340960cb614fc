#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| eyaml_gpg::fuzzing::decrypt(data));
