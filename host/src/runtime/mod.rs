//! The sandbox: wasmtime engine, component validation and cache, and one
//! isolated store per job.
