//! A connection's socket as hyper sees it: the bytes the lobby already read come first, and
//! writes time out, so a client that stops reading its response holds its connection at most
//! that long.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// `TcpStream` that reads `prefix` first, and whose writes (and flushes) fail with
/// `TimedOut` after making no progress for `timeout`.
pub(crate) struct WriteTimeout {
    stream: TcpStream,
    prefix: Vec<u8>,
    /// How much of `prefix` has been read.
    taken: usize,
    timeout: Duration,
    /// Running while a write waits for the client to read.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteTimeout {
    pub(crate) fn new(stream: TcpStream, prefix: Vec<u8>, timeout: Duration) -> WriteTimeout {
        WriteTimeout {
            stream,
            prefix,
            taken: 0,
            timeout,
            stalled: None,
        }
    }

    /// `Pending` from the socket starts (or goes on with) the stall; anything else ends it.
    fn watch<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.stalled = None;
            return r;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if stalled.as_mut().poll(cx).is_ready() {
            self.stalled = None;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read its response",
            )));
        }
        Poll::Pending
    }
}

impl AsyncRead for WriteTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.taken < this.prefix.len() {
            let rest = &this.prefix[this.taken..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.taken += n;
            if this.taken == this.prefix.len() {
                this.prefix = Vec::new();
                this.taken = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.watch(cx, r)
    }
}

/// Most bytes the lobby reads while waiting for a whole request head: a longer head goes on
/// to hyper, which reads the rest up to `HEAD_LIMIT`.
const LOBBY_READ: usize = 4096;

/// After a read that leaves the head unfinished, how long before the next: a client that
/// sends its head in pieces (a slowloris) costs at most ten reads a second, however it
/// splits it; one that sends it at once is read at once.
const LOBBY_PACE: Duration = Duration::from_millis(100);

/// Reads from `stream` into `head` until it holds a whole request head (or [`LOBBY_READ`]
/// bytes): `true`; `false` when the client closes first or the socket fails.
pub(crate) async fn read_head(stream: &TcpStream, head: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 1024];
    loop {
        if !head.is_empty() {
            tokio::time::sleep(LOBBY_PACE).await;
        }
        if stream.readable().await.is_err() {
            return false;
        }
        // Everything there is (up to the limit), then one look for the head's end.
        loop {
            match stream.try_read(&mut chunk[..(LOBBY_READ - head.len()).min(1024)]) {
                Ok(0) => return false,
                Ok(n) => {
                    head.extend_from_slice(&chunk[..n]);
                    if head.len() >= LOBBY_READ {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return true;
        }
    }
}
