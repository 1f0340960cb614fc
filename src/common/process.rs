//! Keeping plaintext out of reach of other processes of the same user and off the disk: every
//! command may hold secrets in memory (decrypted values, the edit text, secret keys), so at
//! start the process makes itself non-dumpable (`PR_SET_DUMPABLE` 0: no core dump, and
//! `/proc/<pid>/mem`, `environ` and `ptrace` are closed to the user's other processes) and
//! sets its core-file size limit to 0 (inherited by the editor and other children, which get
//! their dumpable flag back on `exec`).

use crate::common::ui::Ui;

/// Applies both protections; a failure (a kernel without `prctl`, a hard limit that cannot
/// be lowered) is a warning, since the command itself can still run.
pub fn protect_plaintext(ui: &Ui) {
    use nix::sys::resource::{setrlimit, Resource};
    if let Err(e) = setrlimit(Resource::RLIMIT_CORE, 0, 0) {
        ui.warn(&format!("cannot disable core dumps (RLIMIT_CORE): {e}"));
    }
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        ui.warn(&format!(
            "cannot mark the process non-dumpable (PR_SET_DUMPABLE): {e}"
        ));
    }
    // Read back from the kernel, for `-v`.
    let dumpable = nix::sys::prctl::get_dumpable().unwrap_or(true);
    let no_core = nix::sys::resource::getrlimit(Resource::RLIMIT_CORE).is_ok_and(|l| l == (0, 0));
    if !dumpable && no_core {
        ui.debug("process not dumpable, core dumps off (PR_GET_DUMPABLE 0, RLIMIT_CORE 0)");
    }
}
