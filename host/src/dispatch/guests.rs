//! The threads guests run on: a runtime of their own, at a lower OS
//! priority than the rest of the process.
//!
//! A guest that computes without calling the host yields to its executor at
//! every epoch tick, but its executor thread stays busy with the next
//! guest. If guests shared the threads of the HTTP API and the database
//! driver, those would queue behind them for CPU. On threads of their own,
//! niced, guests take every idle cycle while the API and the store still get
//! the CPU the moment they need it.

use std::future::Future;

use tokio::runtime::{Builder, Handle, Runtime};

/// How much lower guest threads run (Unix nice value, 0–19).
pub const GUEST_NICE_DEFAULT: i32 = 10;

/// A runtime for guests. Dropping it stops its threads without waiting.
#[derive(Debug)]
pub struct GuestThreads {
    runtime: Option<Runtime>,
}

impl GuestThreads {
    /// `threads` worker threads (at least one), each niced by `nice`.
    pub fn new(threads: usize, nice: i32) -> std::io::Result<GuestThreads> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("wasync-guest")
            .enable_all()
            .on_thread_start(move || lower_priority(nice))
            .build()?;
        Ok(GuestThreads {
            runtime: Some(runtime),
        })
    }

    /// Where to spawn guest runs.
    pub fn handle(&self) -> &Handle {
        self.runtime
            .as_ref()
            .expect("present until dropped")
            .handle()
    }

    /// Runs `future` on a guest thread.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle().spawn(future)
    }
}

impl Drop for GuestThreads {
    fn drop(&mut self) {
        // A runtime may not be dropped (blocking) from async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    // On Linux, PRIO_PROCESS with 0 applies to the calling thread only.
    // SAFETY: setpriority has no memory-safety preconditions.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if result != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "could not lower a guest thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_threads_run_at_the_lower_priority() {
        let guests = GuestThreads::new(1, 7).unwrap();
        let nice = std::sync::mpsc::channel();
        let tx = nice.0;
        guests.spawn(async move {
            // SAFETY: getpriority has no memory-safety preconditions.
            #[cfg(target_os = "linux")]
            let value = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            #[cfg(not(target_os = "linux"))]
            let value = 7;
            tx.send(value).unwrap();
        });
        assert_eq!(nice.1.recv().unwrap(), 7);
    }
}
