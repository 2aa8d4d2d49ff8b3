//! A dispatcher's identity: a UUID kept in the process's own directory
//! (the data directory, or its instance's), so that a restarted process is
//! the same dispatcher. One live process holds an
//! id at a time: activation refuses the others (`store/identity.rs`,
//! `docs/identity.md`).

use std::io;
use std::path::Path;

use crate::model::DispatcherId;

/// The file, inside the data directory, that holds the dispatcher id.
pub const DISPATCHER_ID_FILE: &str = "dispatcher-id";

/// The id stored in `data_dir`, creating and storing a new one if there is
/// none yet.
pub fn load_or_create(data_dir: &Path) -> io::Result<DispatcherId> {
    let path = data_dir.join(DISPATCHER_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not hold a dispatcher UUID: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)?;
            let id = DispatcherId::new();
            // Write then rename, so a crash never leaves a half-written id.
            let temp = data_dir.join(format!("{DISPATCHER_ID_FILE}.tmp"));
            std::fs::write(&temp, format!("{id}\n"))?;
            std::fs::rename(&temp, &path)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn a_corrupt_id_file_is_an_error_not_a_new_identity() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DISPATCHER_ID_FILE), "not a uuid").unwrap();
        let error = load_or_create(dir.path()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
