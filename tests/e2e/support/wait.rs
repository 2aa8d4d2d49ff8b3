//! Waiting, always with a deadline: on a condition (re-checked, never a
//! bare sleep), and for the machine, which tests that measure
//! responsiveness or load it take alone.

use std::sync::LazyLock;
use std::time::Duration;

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How long any single condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

static MACHINE: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

/// Taken by tests that can share the machine with others.
pub async fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().await
}

/// Taken by tests that measure responsiveness or load the machine: no
/// other end-to-end test runs meanwhile.
pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().await
}

/// Waits until `check` gives `Some`, re-checking every 20 ms, failing the
/// test after [`DEADLINE`] with `what`.
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
