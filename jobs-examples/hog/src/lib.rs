//! `hog`: allocates memory until stopped, for memory-limit tests.

#![deny(missing_docs)]

use wasync_guest::job;

/// Page size used to touch every page of a chunk.
const PAGE: usize = 4096;

/// Allocates `chunk_bytes` (default 1 MiB) at a time, writing to every
/// page so the memory is really used, and keeps every chunk; never
/// returns. When the host refuses to grow memory, the allocator fails and
/// the guest aborts ("memory allocation of N bytes failed" on stderr).
#[job]
pub fn hog(chunk_bytes: Option<u64>) -> u64 {
    let chunk = usize::try_from(chunk_bytes.unwrap_or(1 << 20))
        .unwrap_or(usize::MAX)
        .max(1);
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        kept.push(touched_chunk(chunk, kept.len()));
    }
}

/// A chunk of `len` bytes with one nonzero byte per page.
#[inline(never)]
fn touched_chunk(len: usize, n: usize) -> Vec<u8> {
    let mut chunk = vec![0u8; len];
    for i in (0..len).step_by(PAGE) {
        chunk[i] = (n as u8) | 1;
    }
    std::hint::black_box(chunk)
}

wasync_guest::export_jobs!(hog);

#[cfg(test)]
mod tests {
    use super::{PAGE, jobs, touched_chunk};

    #[test]
    fn chunks_are_touched_on_every_page() {
        let chunk = touched_chunk(3 * PAGE + 1, 4);
        assert_eq!(chunk.len(), 3 * PAGE + 1);
        let touched = chunk.iter().filter(|b| **b != 0).count();
        assert_eq!(touched, 4);
        assert!(chunk.iter().step_by(PAGE).all(|b| *b == 5));
    }

    #[test]
    fn hog_is_registered() {
        assert_eq!(jobs().names().collect::<Vec<_>>(), ["hog"]);
    }
}
