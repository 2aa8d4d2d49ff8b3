//! Bounded capture of a guest's stdout and stderr.
//!
//! A [`TailPipe`] accepts every write (a guest never blocks or fails on
//! output) and keeps only the last `limit` bytes: when a job fails, the end
//! of what it wrote is what explains it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

/// The most a guest may hand over in one write: it may write again at once.
const WRITE_BUDGET: usize = 64 * 1024;

/// An output stream that keeps the tail of what is written to it. Clones
/// share the same buffer.
#[derive(Debug, Clone)]
pub(crate) struct TailPipe {
    limit: usize,
    tail: Arc<Mutex<Tail>>,
}

#[derive(Debug, Default)]
struct Tail {
    bytes: VecDeque<u8>,
    dropped: u64,
}

impl TailPipe {
    /// A pipe keeping at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        TailPipe {
            limit,
            tail: Arc::default(),
        }
    }

    fn push(&self, data: &[u8]) {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let keep = &data[data.len().saturating_sub(self.limit)..];
        tail.dropped += (data.len() - keep.len()) as u64;
        let overflow = (tail.bytes.len() + keep.len()).saturating_sub(self.limit);
        tail.bytes.drain(..overflow);
        tail.dropped += overflow as u64;
        tail.bytes.extend(keep);
    }

    /// What was kept, lossily decoded as UTF-8. When bytes were dropped
    /// from the front, the text starts at the next character boundary.
    pub(crate) fn contents(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = tail.bytes.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        if tail.dropped > 0 {
            // Skip UTF-8 continuation bytes cut in half at the front.
            let start = bytes
                .iter()
                .position(|&b| (b as i8) >= -0x40)
                .unwrap_or(bytes.len());
            bytes.drain(..start);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// How many bytes were written in all, kept or not.
    pub(crate) fn written(&self) -> u64 {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.bytes.len() as u64 + tail.dropped
    }

    /// How many bytes were written but not kept.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> u64 {
        self.tail.lock().unwrap_or_else(|e| e.into_inner()).dropped
    }
}

impl IsTerminal for TailPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TailPipe {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for TailPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for TailPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl AsyncWrite for TailPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_under_the_limit() {
        let mut pipe = TailPipe::new(16);
        pipe.write(Bytes::from_static(b"hello ")).unwrap();
        pipe.write(Bytes::from_static(b"world")).unwrap();
        assert_eq!(pipe.contents(), "hello world");
        assert_eq!(pipe.dropped(), 0);
    }

    #[test]
    fn keeps_only_the_tail() {
        let mut pipe = TailPipe::new(8);
        pipe.write(Bytes::from_static(b"0123456789")).unwrap();
        assert_eq!(pipe.contents(), "23456789");
        pipe.write(Bytes::from_static(b"ab")).unwrap();
        assert_eq!(pipe.contents(), "456789ab");
        assert_eq!(pipe.dropped(), 4);
        assert_eq!(pipe.written(), 12);
        assert_eq!(pipe.check_write().unwrap(), WRITE_BUDGET);
    }

    #[test]
    fn a_cut_character_is_skipped_not_mangled() {
        let mut pipe = TailPipe::new(4);
        // "é" is two bytes; keeping 4 of "aéxyz"'s 6 bytes cuts into it.
        pipe.write(Bytes::from("aéxyz".as_bytes().to_vec()))
            .unwrap();
        assert_eq!(pipe.contents(), "xyz");
    }
}
