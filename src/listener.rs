//! Accepted connections, tuned for many small, latency-bound frames on mostly idle sockets.
//!
//! - `TCP_NODELAY`: a small frame written right after another must not wait for the peer's
//!   delayed ACK (Nagle's algorithm adds up to tens of milliseconds per frame).
//! - Writes are coalesced until `flush`, so a burst of frames leaves in one system call, in a
//!   buffer that is **released once it is written out**. The WebSocket layer keeps no write
//!   buffer of its own (it would keep the capacity of its largest burst, such as a 50-message
//!   history page, for the life of every socket); an idle socket then holds no write memory at all.

use axum::serve::Listener;
use std::{
    io::{self, IoSlice},
    net::SocketAddr,
    pin::Pin,
    task::{ready, Context, Poll},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};

/// Queued bytes beyond which a write goes out before more is queued.
const HIGH_WATER: usize = 16 * 1024;

/// The address a connection came from (the nearest proxy's, behind one), as a request extension
/// (`ConnectInfo<Peer>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, ChatListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, ChatListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// A TCP listener whose connections are [`Coalesced`] and have `TCP_NODELAY` set.
pub struct ChatListener(TcpListener);

impl ChatListener {
    pub fn new(listener: TcpListener) -> Self {
        Self(listener)
    }
}

impl Listener for ChatListener {
    type Io = Coalesced<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop: retries (after a pause) on errors such as running out of
        // file descriptors, instead of ending the server.
        let (tcp, addr) = Listener::accept(&mut self.0).await;
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        (Coalesced::new(tcp), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// An I/O stream whose writes are queued until `flush` (or until [`HIGH_WATER`] bytes wait).
#[derive(Debug)]
pub struct Coalesced<T> {
    io: T,
    queued: Vec<u8>,
    /// How much of `queued` is already written.
    written: usize,
}

impl<T> Coalesced<T> {
    pub fn new(io: T) -> Self {
        Self {
            io,
            queued: Vec::new(),
            written: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> Coalesced<T> {
    /// Writes out everything queued, then lets go of the buffer: an allocation per burst costs
    /// far less than the write it precedes, and an idle socket keeps nothing.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.queued.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.queued[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.written = 0;
        self.queued = Vec::new();
        Poll::Ready(Ok(()))
    }

    /// Makes room for `incoming` more bytes: writes out the queue if they would pass the mark.
    fn poll_room(&mut self, cx: &mut Context<'_>, incoming: usize) -> Poll<io::Result<()>> {
        if self.queued.len() + incoming > HIGH_WATER {
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesced<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_room(cx, data.len()))?;
        if data.len() >= HIGH_WATER {
            // Nothing is queued now: a large write goes straight through.
            return Pin::new(&mut this.io).poll_write(cx, data);
        }
        this.queued.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        ready!(this.poll_room(cx, total))?;
        if total >= HIGH_WATER {
            return Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        }
        for buf in bufs {
            this.queued.extend_from_slice(buf);
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesced<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_leave_together_on_flush_and_the_buffer_is_released() {
        let (near, mut far) = tokio::io::duplex(64 * 1024);
        let mut stream = Coalesced::new(near);
        for _ in 0..50 {
            stream.write_all(&[b'x'; 300]).await.unwrap();
        }
        // Nothing has left yet: 15,000 bytes are queued, under the mark.
        let mut probe = [0u8; 1];
        let nothing =
            tokio::time::timeout(std::time::Duration::from_millis(20), far.read(&mut probe)).await;
        assert!(nothing.is_err(), "bytes left before the flush");
        assert!(stream.queued.capacity() >= 15_000);

        stream.flush().await.unwrap();
        let mut got = vec![0u8; 15_000];
        far.read_exact(&mut got).await.unwrap();
        assert!(got.iter().all(|&b| b == b'x'));
        assert_eq!(stream.queued.capacity(), 0, "the burst's buffer is freed");
    }

    #[tokio::test]
    async fn past_the_mark_queued_bytes_go_out_first_and_order_is_kept() {
        let (near, mut far) = tokio::io::duplex(256 * 1024);
        let mut stream = Coalesced::new(near);
        stream.write_all(&[1; 10_000]).await.unwrap();
        stream.write_all(&[2; 10_000]).await.unwrap(); // passes the mark: the 1s go out
        stream.write_all(&[3; 40_000]).await.unwrap(); // large: straight through after the 2s
        stream.flush().await.unwrap();
        let mut got = vec![0u8; 60_000];
        far.read_exact(&mut got).await.unwrap();
        assert!(got[..10_000].iter().all(|&b| b == 1));
        assert!(got[10_000..20_000].iter().all(|&b| b == 2));
        assert!(got[20_000..].iter().all(|&b| b == 3));
    }
}
