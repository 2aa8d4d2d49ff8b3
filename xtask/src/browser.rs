//! The browser the dashboard's end-to-end tests drive: Debian's
//! `chromium` and its WebDriver, `chromium-driver`, installed with
//! `apt-get` when missing. The tests find the driver through
//! [`DRIVER_ENV`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::toolchains::apt_install;

/// The variable naming the driver to the tests (`tests/e2e/browser.rs`).
pub const DRIVER_ENV: &str = "WASYNC_CHROMEDRIVER";
/// Debian's packages of the browser and its driver.
pub const PACKAGES: &[&str] = &["chromium", "chromium-driver"];
const DRIVER: &str = "/usr/bin/chromedriver";
const BROWSER: &str = "/usr/bin/chromium";

fn present() -> bool {
    Path::new(DRIVER).is_file() && Path::new(BROWSER).is_file()
}

/// The driver's path, installing the packages first when missing; the
/// reason when they cannot be installed.
pub fn ensure() -> Result<PathBuf, String> {
    install().map_err(|e| {
        let reason = format!("{e:#}");
        eprintln!("xtask: the browser is not available, so the dashboard's browser tests are skipped: {reason}");
        reason
    })
}

fn install() -> Result<PathBuf> {
    if !present() {
        if Command::new("apt-get").arg("--version").output().is_err() {
            bail!(
                "chromium and chromium-driver are missing and there is no apt-get to install them"
            );
        }
        apt_install(PACKAGES, "the browser")?;
        if !present() {
            bail!(
                "apt-get installed {} but {DRIVER} or {BROWSER} is missing",
                PACKAGES.join(" ")
            );
        }
    }
    Ok(PathBuf::from(DRIVER))
}
