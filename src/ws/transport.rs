//! The socket as the connection loop sees it: any `Sink` + `Stream` of WebSocket messages.
//!
//! In production that is axum's `WebSocket`; unit tests drive the same loop through a pair of
//! channels under paused time. Sending has one policy, written here: a client that does not take
//! a frame within [`SEND_TIMEOUT`] is dropped.

use app::protocol::ServerMsg;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt, Stream};
use std::time::Duration;

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

pub async fn send_raw<T: Transport>(socket: &mut T, message: Message) -> Result<(), SendFailed> {
    settle(tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await)
}

/// Queues a frame without writing it out yet (see [`flush`]); the connection's coalescing writer
/// (`listener::Coalesced`) bounds the queue, past which it writes anyway.
pub async fn feed<T: Transport>(socket: &mut T, message: Message) -> Result<(), SendFailed> {
    settle(tokio::time::timeout(SEND_TIMEOUT, socket.feed(message)).await)
}

/// Writes every queued frame: one write for a burst, not one per frame.
pub async fn flush<T: Transport>(socket: &mut T) -> Result<(), SendFailed> {
    settle(tokio::time::timeout(SEND_TIMEOUT, socket.flush()).await)
}

fn settle(
    result: Result<Result<(), axum::Error>, tokio::time::error::Elapsed>,
) -> Result<(), SendFailed> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "socket write failed");
            Err(SendFailed)
        }
        Err(_) => {
            tracing::warn!("client did not read for {SEND_TIMEOUT:?}; dropping it");
            Err(SendFailed)
        }
    }
}

pub async fn send_msg<T: Transport>(socket: &mut T, msg: &ServerMsg) -> Result<(), SendFailed> {
    send_raw(socket, Message::Text(msg.to_json().into())).await
}

pub async fn close<T: Transport>(
    socket: &mut T,
    code: u16,
    reason: &'static str,
) -> Result<(), SendFailed> {
    send_raw(
        socket,
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })),
    )
    .await
}

/// Whether a read failed because the client's frame was over the hard limit (the WebSocket
/// layer refuses to buffer it), as opposed to the connection failing.
pub fn is_too_big(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|inner| inner.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
