//! Whether a gRPC request that timed out can have been sent. tonic queues a request until
//! its channel has a connection, so a request that times out may never have left: when no
//! connection of its channel was live as it began and none was made while it waited, it
//! certainly was not sent (its delta data goes with the next export instead of being counted
//! lost). The channel's connector counts its connections: each one made, and each one live
//! until hyper drops it ([`Counted`]).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The connections of one channel.
#[derive(Debug, Default)]
pub(super) struct Connections {
    live: AtomicUsize,
    made: AtomicU64,
}

/// What [`Connections`] held as a request began.
#[derive(Clone, Copy, Debug)]
pub(super) struct Before {
    live: usize,
    made: u64,
}

impl Connections {
    pub(super) fn before(&self) -> Before {
        Before {
            live: self.live.load(Relaxed),
            made: self.made.load(Relaxed),
        }
    }

    /// Whether a request begun at `before` may have gone out: a connection was live then,
    /// or one was made since.
    pub(super) fn could_have_sent(&self, before: Before) -> bool {
        before.live > 0 || self.made.load(Relaxed) > before.made
    }

    /// `stream`, a new connection, counted until it is dropped.
    pub(super) fn count<T>(self: &Arc<Self>, stream: T) -> Counted<T> {
        self.made.fetch_add(1, Relaxed);
        self.live.fetch_add(1, Relaxed);
        Counted {
            stream,
            connections: self.clone(),
        }
    }
}

/// A connection counted live while it exists.
#[derive(Debug)]
pub(super) struct Counted<T> {
    stream: T,
    connections: Arc<Connections>,
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        self.connections.live.fetch_sub(1, Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_could_have_been_sent_only_over_a_connection_live_or_made_meanwhile() {
        let c = Arc::new(Connections::default());
        let before = c.before();
        assert!(!c.could_have_sent(before), "no connection at all");
        let conn = c.count(());
        assert!(c.could_have_sent(before), "one made while it waited");
        let later = c.before();
        drop(conn);
        assert!(c.could_have_sent(later), "live as it began");
        assert!(!c.could_have_sent(c.before()), "none live, none made since");
    }
}
