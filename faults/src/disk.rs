//! A small filesystem to fill.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::Unsupported;

/// A tmpfs of a few megabytes mounted on a temporary directory; unmounted
/// when dropped.
#[derive(Debug)]
pub struct SmallDisk {
    dir: TempDir,
    ballast: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel).
    /// `Err` says why where mounting is not permitted (not root, no mount
    /// namespace of one's own).
    pub fn mount(bytes: u64) -> Result<SmallDisk, Unsupported> {
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0755")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run `mount`: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cannot mount a tmpfs ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let ballast = dir.path().join("ballast");
        Ok(SmallDisk { dir, ballast })
    }

    /// [`SmallDisk::mount`], or `None` after printing why the test that
    /// asked is skipped.
    pub fn mount_or_skip(bytes: u64) -> Option<SmallDisk> {
        Self::mount(bytes)
            .map_err(|reason| eprintln!("skipped: {reason}"))
            .ok()
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem to the last byte with a ballast file. Returns
    /// how many bytes the ballast took.
    pub fn fill(&self) -> std::io::Result<u64> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.ballast)?;
        let mut written = 0u64;
        for chunk in [1 << 16, 1 << 12, 1] {
            let bytes = vec![0xa5u8; chunk];
            loop {
                match file.write(&bytes) {
                    Ok(0) => break,
                    Ok(n) => written += n as u64,
                    Err(e) if e.kind() == ErrorKind::StorageFull => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(written)
    }

    /// Gives the ballast's space back.
    pub fn free(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.ballast) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a process of the test not yet reaped): detach it
            // now, the kernel frees it once unused.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}
