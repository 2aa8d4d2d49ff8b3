//! The panic hook: tells the host why the guest is about to abort.
//!
//! `wasm32-wasip2` builds with `panic=abort`, so a panic ends in a trap and
//! the host would only see "unreachable". The hook, installed once before
//! the first job function runs, first calls the `report-panic` import with
//! the message and location, then the previous hook (which prints the
//! usual `thread '...' panicked at ...` to stderr).

use std::panic::{self, PanicHookInfo};
use std::sync::Once;

use crate::sys;

static INSTALL: Once = Once::new();

/// Installs the hook (once per process or instance).
pub(crate) fn install_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            sys::report_panic(&message(info));
            previous(info);
        }));
    });
}

/// `"{payload} (at {file}:{line}:{column})"`, the text `report-panic` gets.
pub(crate) fn message(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload_as_str().unwrap_or("Box<dyn Any>");
    match info.location() {
        Some(at) => format!("{payload} (at {}:{}:{})", at.file(), at.line(), at.column()),
        None => payload.to_owned(),
    }
}
