//! Processes this library starts, and what makes sure none of them outlives it.

pub mod watchdog;

use std::sync::atomic::{AtomicBool, Ordering};

static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// This process is exiting: from now on nothing starts a server, and a supervisor that sees its
/// server die does not restart it.
pub fn begin_shutdown() {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
}

pub fn is_shutting_down() -> bool {
    SHUTTING_DOWN.load(Ordering::SeqCst)
}
