//! Containment of panics inside the OpenPGP parser: a value must never crash the process.
//! A panic while one value is parsed or decrypted becomes [`Error::Malformed`] for that value.
//!
//! The default panic hook would print the panic's payload and, with `RUST_BACKTRACE`, a
//! backtrace; a payload may quote parser state (an `unwrap()` on an error value prints the
//! value), so for a contained panic the hook prints nothing and only the panic's source
//! location is kept, for the error message. Panics anywhere else reach the previous hook
//! unchanged.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::{Error, Result};

thread_local! {
    /// Whether this thread is inside [`contained`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Where the last contained panic of this thread happened (`file:line`).
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs, once per process, a hook that is silent for contained panics and hands every
/// other panic to the hook that was there before.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_else(|| "an unknown place".into());
                LOCATION.with(|l| *l.borrow_mut() = Some(at));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` (parsing or decrypting one value); a panic inside becomes [`Error::Malformed`].
pub(crate) fn contained<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    install_hook();
    let was = QUIET.with(|q| q.replace(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    outcome.unwrap_or_else(|_| {
        let at = LOCATION
            .with(|l| l.borrow_mut().take())
            .unwrap_or_else(|| "an unknown place".into());
        Err(Error::Malformed(format!(
            "the OpenPGP parser failed on this value (a panic at {at}, contained); the value is \
             damaged"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_malformed_error_naming_where() {
        let r: Result<()> = contained(|| panic!("parser state"));
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("contained.rs") || e.contains("contain.rs"),
            "{e}"
        );
        assert!(!e.contains("parser state"), "{e}");
        // The thread is back to normal afterwards.
        assert!(!QUIET.with(Cell::get));
    }

    #[test]
    fn results_pass_through() {
        assert_eq!(contained(|| Ok(7)).unwrap(), 7);
        assert!(matches!(
            contained::<()>(|| Err(Error::Base64)),
            Err(Error::Base64)
        ));
    }
}
