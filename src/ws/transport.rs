//! The socket as the connection loop sees it: any `Sink` + `Stream` of WebSocket messages, with
//! the client's frames decoded into [`Incoming`] here, so the loop gets typed commands.
//!
//! In production that is `ws::socket::ChatSocket`; unit tests drive the same loop through a pair of
//! channels under paused time. Sending has one policy, written here: a client that does not take
//! a frame within [`SEND_TIMEOUT`] is dropped.

use app::protocol::{client_id_of, target_of, ClientMsg, ErrorCode, ServerMsg, MAX_FRAME_BYTES};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{
    sink::{self, Feed, Flush},
    Sink, SinkExt, Stream,
};
use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Duration,
};
use tokio::time::Sleep;

/// A client that does not take a frame within this time is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A WebSocket: frames in, frames out.
pub trait Transport:
    Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin + Send
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<Message, axum::Error>>
        + Sink<Message, Error = axum::Error>
        + Unpin
        + Send
{
}

/// The socket can no longer be written to; the connection ends.
#[derive(Debug)]
pub struct SendFailed;

/// Sends one frame and writes it out.
pub fn send_raw<T: Transport>(
    socket: &mut T,
    message: Message,
) -> Write<sink::Send<'_, T, Message>> {
    Write::new(socket.send(message))
}

/// Queues a frame without writing it out yet (see [`flush`]); the connection's coalescing writer
/// (`listener::Coalesced`) bounds the queue, past which it writes anyway.
pub fn feed<T: Transport>(socket: &mut T, message: Message) -> Write<Feed<'_, T, Message>> {
    Write::new(socket.feed(message))
}

/// Writes every queued frame: one write for a burst, not one per frame.
pub fn flush<T: Transport>(socket: &mut T) -> Write<Flush<'_, T, Message>> {
    Write::new(socket.flush())
}

pub fn send_msg<'a, T: Transport>(
    socket: &'a mut T,
    msg: &ServerMsg,
) -> Write<sink::Send<'a, T, Message>> {
    send_raw(socket, Message::Text(msg.to_json().into()))
}

pub fn close<'a, T: Transport>(
    socket: &'a mut T,
    code: u16,
    reason: &'static str,
) -> Write<sink::Send<'a, T, Message>> {
    send_raw(
        socket,
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })),
    )
}

/// A write to the socket that fails after [`SEND_TIMEOUT`].
///
/// A plain future rather than an `async fn` around `tokio::time::timeout`, for the size of every
/// socket's task: the task is as large as the largest state of its loop, and a write is in most
/// of them. The timer (about 100 bytes) is made, boxed, only for a write that does not complete
/// on its first poll, which nearly every write does; and no layer of `async fn` keeps a second
/// copy of the frame.
#[must_use = "a write does nothing unless awaited"]
pub struct Write<F> {
    write: F,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<F> Write<F> {
    fn new(write: F) -> Self {
        Self { write, timer: None }
    }
}

impl<F> Future for Write<F>
where
    F: Future<Output = Result<(), axum::Error>> + Unpin,
{
    type Output = Result<(), SendFailed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match Pin::new(&mut this.write).poll(cx) {
            Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                tracing::debug!(error = %e, "socket write failed");
                return Poll::Ready(Err(SendFailed));
            }
            Poll::Pending => {}
        }
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(SEND_TIMEOUT)));
        ready!(timer.as_mut().poll(cx));
        tracing::warn!("client did not read for {SEND_TIMEOUT:?}; dropping it");
        Poll::Ready(Err(SendFailed))
    }
}

/// What the client's next frame means to the connection.
#[derive(Debug)]
pub enum Incoming {
    /// A command to carry out.
    Command(ClientMsg),
    /// A text frame that is not a command (unreadable, or over [`MAX_FRAME_BYTES`]): the
    /// refusal to send, naming the frame's `client_id` if it has one. The socket stays open.
    /// Boxed: a rare event, and a frame is the largest thing a socket task holds.
    Unreadable(Box<ServerMsg>),
    /// A ping or a pong: nothing to do (the WebSocket layer answers pings).
    Control,
    /// A binary frame: this protocol is JSON text; the socket closes with 1003.
    Binary,
    /// A frame over the hard limit, which the WebSocket layer refused to read: the socket
    /// closes with 1009.
    TooBig,
    /// The client closed the socket, or the connection failed.
    Gone,
}

/// Decodes what the socket read (`socket.next()`).
pub fn decode(frame: Option<Result<Message, axum::Error>>) -> Incoming {
    match frame {
        Some(Ok(Message::Text(text))) => decode_text(&text),
        Some(Ok(Message::Binary(_))) => Incoming::Binary,
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Incoming::Control,
        Some(Ok(Message::Close(_))) | None => Incoming::Gone,
        Some(Err(e)) if is_too_big(&e) => {
            tracing::info!(error = %e, "frame over the hard limit; closing with 1009");
            Incoming::TooBig
        }
        Some(Err(e)) => {
            tracing::debug!(error = %e, "socket read failed");
            Incoming::Gone
        }
    }
}

/// A refused frame's error names what the frame was about, as far as it can be read: the
/// message it sent (`client_id`), or the one it would have changed (`id`, as `target`).
fn unreadable(code: ErrorCode, message: String, text: &str) -> Incoming {
    let mut refusal = ServerMsg::refused(code, message, client_id_of(text));
    if let ServerMsg::Error { target, .. } = &mut refusal {
        *target = target_of(text);
    }
    Incoming::Unreadable(Box::new(refusal))
}

fn decode_text(text: &str) -> Incoming {
    if text.len() > MAX_FRAME_BYTES {
        let why = format!(
            "Frames can be at most {MAX_FRAME_BYTES} bytes; this one was {}.",
            text.len()
        );
        return unreadable(ErrorCode::TooLarge, why, text);
    }
    match serde_json::from_str::<ClientMsg>(text) {
        Ok(command) => Incoming::Command(command),
        Err(e) => unreadable(ErrorCode::BadFrame, format!("Unreadable frame: {e}"), text),
    }
}

/// Whether a read failed because the client's frame was over the hard limit (the WebSocket
/// layer refuses to buffer it), as opposed to the connection failing.
fn is_too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|inner| inner.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// A client's socket that takes frames only from `opens` on (never, when `None`).
    struct Slow {
        opens: Option<Pin<Box<Sleep>>>,
        taken: usize,
    }

    impl Slow {
        fn opening_in(wait: Option<Duration>) -> Self {
            Self {
                opens: wait.map(|wait| Box::pin(tokio::time::sleep(wait))),
                taken: 0,
            }
        }
    }

    impl Stream for Slow {
        type Item = Result<Message, axum::Error>;
        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    impl Sink<Message> for Slow {
        type Error = axum::Error;
        fn poll_ready(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Result<(), Self::Error>> {
            match self.opens.as_mut() {
                Some(opens) => opens.as_mut().poll(cx).map(Ok),
                None => Poll::Pending,
            }
        }
        fn start_send(mut self: Pin<&mut Self>, _: Message) -> Result<(), Self::Error> {
            self.taken += 1;
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_completes_at_once_makes_no_timer() {
        let mut socket = Slow::opening_in(Some(Duration::ZERO));
        {
            let mut write = std::pin::pin!(send_msg(&mut socket, &ServerMsg::Heartbeat));
            assert!(matches!(
                futures_util::poll!(write.as_mut()),
                Poll::Ready(Ok(()))
            ));
            assert!(write.timer.is_none());
        }
        assert_eq!(socket.taken, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_reads_late_gets_the_frame() {
        let mut socket = Slow::opening_in(Some(Duration::from_secs(3)));
        let started = Instant::now();
        assert!(send_msg(&mut socket, &ServerMsg::Heartbeat).await.is_ok());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert_eq!(socket.taken, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_reads_is_dropped_after_the_send_timeout() {
        let mut socket = Slow::opening_in(None);
        let started = Instant::now();
        assert!(send_msg(&mut socket, &ServerMsg::Heartbeat).await.is_err());
        assert_eq!(started.elapsed(), SEND_TIMEOUT);
        assert_eq!(socket.taken, 0);
    }

    #[test]
    fn a_capacity_error_is_told_apart_from_a_broken_connection() {
        let too_big = axum::Error::new(tungstenite::Error::Capacity(
            tungstenite::error::CapacityError::MessageTooLong {
                size: 300_000,
                max_size: 262_144,
            },
        ));
        assert!(is_too_big(&too_big));
        assert!(!is_too_big(&axum::Error::new(
            tungstenite::Error::ConnectionClosed
        )));
    }
}
