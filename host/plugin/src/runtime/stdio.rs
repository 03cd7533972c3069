//! Bounded capture of a guest's stdout and stderr.
//!
//! A plugin may print as much as it likes, but the host keeps only the newest
//! `capacity` bytes of each stream: enough for the panic message that ends a
//! crashing guest's stderr, never an unbounded buffer. Writes never fail, so a
//! chatty guest is not turned into a trapping one (wasmtime-wasi's
//! `MemoryOutputPipe` traps once full, and keeps the *oldest* bytes, which loses
//! the panic message — hence this small type of our own).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The largest write permit handed to the guest at once.
const WRITE_PERMIT: usize = 64 * 1024;

/// A shared, bounded log of the newest bytes written to one guest stream.
#[derive(Clone, Debug)]
pub struct BoundedLog {
    inner: Arc<Mutex<LogBuffer>>,
}

#[derive(Debug)]
struct LogBuffer {
    capacity: usize,
    bytes: VecDeque<u8>,
    discarded: u64,
}

impl BoundedLog {
    /// A log that keeps the newest `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        BoundedLog {
            inner: Arc::new(Mutex::new(LogBuffer {
                capacity,
                bytes: VecDeque::new(),
                discarded: 0,
            })),
        }
    }

    fn append(&self, data: &[u8]) {
        let mut log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let capacity = log.capacity;
        let keep = &data[data.len().saturating_sub(capacity)..];
        log.discarded += (data.len() - keep.len()) as u64;
        let overflow = (log.bytes.len() + keep.len()).saturating_sub(capacity);
        log.bytes.drain(..overflow);
        log.discarded += overflow as u64;
        log.bytes.extend(keep);
    }

    /// Everything kept, decoded lossily.
    pub fn contents(&self) -> String {
        let log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (a, b) = log.bytes.as_slices();
        let mut all = Vec::with_capacity(a.len() + b.len());
        all.extend_from_slice(a);
        all.extend_from_slice(b);
        String::from_utf8_lossy(&all).into_owned()
    }

    /// The newest `max_bytes` bytes kept, decoded lossily (a cut multi-byte
    /// character at the start becomes U+FFFD).
    pub fn tail(&self, max_bytes: usize) -> String {
        let all = self.contents();
        let mut start = all.len().saturating_sub(max_bytes);
        while !all.is_char_boundary(start) {
            start += 1;
        }
        all[start..].to_string()
    }

    /// Bytes dropped because the log was full.
    #[cfg(test)]
    fn discarded(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .discarded
    }
}

impl IsTerminal for BoundedLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for BoundedLog {
    async fn ready(&mut self) {}
}

impl OutputStream for BoundedLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for BoundedLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
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
    fn keeps_only_the_newest_bytes() {
        let log = BoundedLog::new(8);
        log.append(b"hello ");
        log.append(b"world!");
        assert_eq!(log.contents(), "o world!");
        assert_eq!(log.discarded(), 4);
        log.append(b"a much longer write than the capacity");
        assert_eq!(log.contents(), "capacity");
        assert_eq!(log.tail(3), "ity");
    }

    #[test]
    fn tail_never_splits_a_character() {
        let log = BoundedLog::new(64);
        log.append("ab€".as_bytes());
        // "€" is 3 bytes; a 2-byte tail would cut it, so the tail is empty.
        assert_eq!(log.tail(2), "");
        assert_eq!(log.tail(3), "€");
    }
}
