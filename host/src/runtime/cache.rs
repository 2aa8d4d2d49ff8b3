//! The on-disk cache of compiled components, so that a module is compiled
//! once per machine.
//!
//! A file is `<dir>/<digest hex>-<engine compatibility hash>.cwasm`: an
//! engine with other settings or another wasmtime version looks for
//! another name. Its content is wasmtime's serialized component followed by
//! a trailer (the SHA-256 of that payload and a magic tag); a file whose
//! trailer does not match, or that wasmtime refuses, is deleted and the
//! component recompiled. Files are written to a temporary name and renamed
//! into place, so readers never see half a file.
//!
//! Processes sharing the directory (instances of one data directory,
//! started together) compile a component once between them: a process
//! that misses the file takes its turn to compile it
//! ([`DiskCache::compile_turn`], an exclusive lock on
//! `<digest hex>-<engine compatibility hash>.lock`) and looks again once it
//! has it, so the others load what the first compiled instead of spending
//! the machine's cores compiling the same component again (a `hello` takes
//! ~0.5 s of CPU; four workers starting together on two cores drained a
//! queue at 0.88× the rate of one worker while each compiled it, at 1.01×
//! since: issue 16, `docs/testing.md`).

use std::fs::{File, TryLockError};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::model::ModuleDigest;

/// The tag ending every cache file (format version 1).
const MAGIC: &[u8; 8] = b"wsync-c1";
const TRAILER_LEN: usize = 32 + MAGIC.len();

/// The longest a process waits for another one compiling the same
/// component before it compiles the component itself.
const COMPILE_WAIT_MAX: Duration = Duration::from_secs(60);

/// How often a process waiting for another one's compile looks again.
const COMPILE_WAIT_POLL: Duration = Duration::from_millis(5);

/// A directory of compiled components for one engine configuration.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    compat: String,
}

impl DiskCache {
    /// The cache in `dir` (created if missing) for `engine`.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> std::io::Result<DiskCache> {
        std::fs::create_dir_all(dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(DiskCache {
            dir: dir.to_owned(),
            compat: format!("{:016x}", hasher.finish()),
        })
    }

    /// Where the component with `digest` is kept.
    pub(crate) fn path(&self, digest: &ModuleDigest) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", digest.hex(), self.compat))
    }

    /// Waits for this process's turn to compile `digest` for the cache:
    /// until no other process sharing the directory is compiling it, or
    /// [`COMPILE_WAIT_MAX`] has passed (a process stopped mid-compile
    /// holds its lock; the others then compile for themselves, as they
    /// would without the cache). Held until dropped, which is after the
    /// compiled component is stored. A lock that cannot be taken (a
    /// read-only directory, a file system without locks) is logged and
    /// gives the turn at once: the cache only saves work, it never stops
    /// a component from being compiled.
    pub(crate) fn compile_turn(&self, digest: &ModuleDigest) -> CompileTurn {
        let path = self
            .dir
            .join(format!("{}-{}.lock", digest.hex(), self.compat));
        let file = match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open the component cache's lock; compiling without waiting for other processes");
                return CompileTurn { _lock: None };
            }
        };
        let deadline = Instant::now() + COMPILE_WAIT_MAX;
        loop {
            match file.try_lock() {
                Ok(()) => return CompileTurn { _lock: Some(file) },
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(COMPILE_WAIT_POLL);
                }
                Err(TryLockError::WouldBlock) => {
                    tracing::warn!(path = %path.display(), waited = ?COMPILE_WAIT_MAX, "another process is still compiling this component; compiling it here too");
                    return CompileTurn { _lock: None };
                }
                Err(TryLockError::Error(e)) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot lock the component cache; compiling without waiting for other processes");
                    return CompileTurn { _lock: None };
                }
            }
        }
    }

    /// The compiled component, if a sound file is there. A damaged or
    /// incompatible file is removed.
    pub(crate) fn load(&self, engine: &Engine, digest: &ModuleDigest) -> Option<Component> {
        let path = self.path(digest);
        let file = match std::fs::read(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read cached component");
                return None;
            }
        };
        let Some(payload) = verified_payload(&file) else {
            self.discard(&path, "checksum mismatch");
            return None;
        };
        // SAFETY: wasmtime requires that deserialized bytes come from
        // `Component::serialize` of a compatible engine. The file name
        // carries this engine's compatibility hash, wasmtime checks its own
        // header again, and the SHA-256 trailer checked above shows the
        // payload is exactly what this cache wrote. The directory belongs
        // to the wasync process: whoever can write there can also replace
        // its binary.
        match unsafe { Component::deserialize(engine, payload) } {
            Ok(component) => Some(component),
            Err(e) => {
                self.discard(&path, &e.to_string());
                None
            }
        }
    }

    /// Writes `component` for `digest`, atomically. Failures are logged:
    /// the cache is an optimisation.
    pub(crate) fn store(&self, digest: &ModuleDigest, component: &Component) {
        let path = self.path(digest);
        if let Err(e) = self.write(&path, component) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write cached component");
        }
    }

    fn write(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        let payload = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (temp_path, mut temp) = tempfile_in(&self.dir)?;
        let written = (|| {
            temp.write_all(&payload)?;
            temp.write_all(&Sha256::digest(&payload))?;
            temp.write_all(MAGIC)?;
            temp.sync_all()?;
            drop(temp);
            std::fs::rename(&temp_path, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp_path);
        }
        written
    }

    fn discard(&self, path: &Path, why: &str) {
        tracing::warn!(path = %path.display(), reason = why, "discarding cached component");
        let _ = std::fs::remove_file(path);
    }
}

/// A process's turn to compile one component for the cache (see
/// [`DiskCache::compile_turn`]); the lock is released when dropped, or
/// when the process dies.
#[derive(Debug)]
pub(crate) struct CompileTurn {
    _lock: Option<File>,
}

/// A new file with a unique name in `dir`, opened for writing.
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let name = format!(
        ".tmp-{}-{}.cwasm",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}

/// The payload of a cache file, if its trailer matches.
fn verified_payload(file: &[u8]) -> Option<&[u8]> {
    let split = file.len().checked_sub(TRAILER_LEN)?;
    let (payload, trailer) = file.split_at(split);
    let (sum, magic) = trailer.split_at(32);
    (magic == MAGIC && Sha256::digest(payload).as_slice() == sum).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailer_guards_the_payload() {
        let payload = b"compiled code".to_vec();
        let mut file = payload.clone();
        file.extend_from_slice(&Sha256::digest(&payload));
        file.extend_from_slice(MAGIC);
        assert_eq!(verified_payload(&file), Some(&payload[..]));
        let mut flipped = file.clone();
        flipped[3] ^= 1;
        assert_eq!(verified_payload(&flipped), None);
        assert_eq!(verified_payload(&file[1..]), None);
        assert_eq!(verified_payload(b"short"), None);
    }
}
