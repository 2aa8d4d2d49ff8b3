//! The raw `context` calls, one implementation per target: the component
//! imports on wasm32, the [`testing`](crate::testing) fake elsewhere. Both
//! speak the WIT shapes (JSON text, ids as strings, errors as text).

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{
    add_callback, add_part, append_args, get_job, get_live_annotation, put, put_composite,
    put_held, put_many, report_panic, set_live_annotation,
};
#[cfg(target_arch = "wasm32")]
pub use wasm::{bindings, run_export};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::sys::{
    add_callback, add_part, append_args, get_job, get_live_annotation, put, put_composite,
    put_held, put_many, report_panic, set_live_annotation,
};
