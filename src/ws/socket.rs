//! The WebSocket handshake, and the socket a [`super::Connection`] speaks over.
//!
//! axum's `WebSocket` sends every message as one frame, and tungstenite formats each frame into a
//! buffer that keeps the capacity of the largest frame it ever held, for the life of the socket.
//! A page of older history is tens of KiB: every socket that once asked for one would keep that
//! much allocated while it sits idle. So the handshake (RFC 6455, section 4.2.2) is done here,
//! and [`ChatSocket`] sends a text longer than [`FRAGMENT`] as a fragmented message (section
//! 5.4): the buffer never holds more than one fragment, and the client still reads one message.
//!
//! Only HTTP/1.1 upgrades are taken (every load balancer in `docs/deploy.md` speaks it to the
//! instances); WebSockets over HTTP/2 (RFC 8441) get `426 Upgrade Required` like any request
//! that is not an upgrade.

use axum::{
    extract::{
        ws::{CloseFrame, Message, Utf8Bytes},
        FromRequestParts,
    },
    http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures_util::{future::Either, ready, FutureExt, Sink, Stream};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_util::task::TaskTracker;
use tungstenite::protocol::{
    frame::{
        coding::{Data, OpCode},
        Frame,
    },
    Role, WebSocketConfig,
};

/// The most payload one outgoing frame carries; a longer text goes out in several, at 4 bytes
/// of header each (under 1 %). A chat message's frame is a few hundred bytes, so most go as one
/// frame; a presence list or a page of history goes in several. The same size as a socket's
/// read buffer: what an idle socket keeps for writing is no more than what it keeps for reading.
pub const FRAGMENT: usize = 512;

/// An HTTP/1.1 request to open a WebSocket, checked; [`Upgrade::on_upgrade`] answers it.
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Why a request to `/ws` is not a WebSocket handshake this server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotUpgrade {
    NotGet,
    NotWebSocket,
    Version,
    NoKey,
    /// The connection cannot be taken over (HTTP/2, or a server without upgrades).
    NotUpgradable,
}

impl IntoResponse for NotUpgrade {
    fn into_response(self) -> Response {
        let (status, why) = match self {
            Self::NotGet => (StatusCode::METHOD_NOT_ALLOWED, "a WebSocket opens with GET"),
            Self::NotWebSocket => (
                StatusCode::UPGRADE_REQUIRED,
                "this is a WebSocket endpoint: ask for `Connection: upgrade`, `Upgrade: websocket`",
            ),
            Self::Version => (StatusCode::BAD_REQUEST, "Sec-WebSocket-Version must be 13"),
            Self::NoKey => (StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing"),
            Self::NotUpgradable => (
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded: use HTTP/1.1",
            ),
        };
        let mut response = (status, why).into_response();
        if status == StatusCode::UPGRADE_REQUIRED {
            response
                .headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotUpgrade;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, NotUpgrade> {
        if parts.method != Method::GET {
            return Err(NotUpgrade::NotGet);
        }
        if !has_token(&parts.headers, header::CONNECTION, "upgrade")
            || !has_token(&parts.headers, header::UPGRADE, "websocket")
        {
            return Err(NotUpgrade::NotWebSocket);
        }
        if parts.headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13"))
        {
            return Err(NotUpgrade::Version);
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .ok_or(NotUpgrade::NoKey)?
            .clone();
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(NotUpgrade::NotUpgradable)?;
        Ok(Self { key, on_upgrade })
    }
}

impl Upgrade {
    /// Answers `101 Switching Protocols`; once the client has it, `serve` gets the socket in a
    /// task of `tasks` (an upgrade that fails leaves nothing to serve).
    pub fn on_upgrade<F>(
        self,
        config: WebSocketConfig,
        tasks: &TaskTracker,
        serve: impl FnOnce(ChatSocket<TokioIo<Upgraded>>) -> F + Send + 'static,
    ) -> Response
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Self { key, on_upgrade } = self;
        let accept = async move {
            match on_upgrade.await {
                Ok(upgraded) => Some(ChatSocket::server(TokioIo::new(upgraded), config).await),
                Err(e) => {
                    tracing::debug!(error = %e, "the upgrade did not complete");
                    None
                }
            }
        };
        // Chained rather than one `async` block: the block would keep `serve` (the connection)
        // and `config` beside the served socket for its whole life, about 200 bytes a socket.
        let task = accept.then(move |socket| match socket {
            Some(socket) => Either::Left(serve(socket)),
            None => Either::Right(std::future::ready(())),
        });
        tasks.spawn(task);
        let accept_key = tungstenite::handshake::derive_accept_key(key.as_bytes());
        (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (
                    header::SEC_WEBSOCKET_ACCEPT,
                    HeaderValue::try_from(accept_key).expect("base64 is a valid header value"),
                ),
            ],
        )
            .into_response()
    }
}

/// Whether a comma-separated header has `token` among its values (case-insensitively).
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|value| value.trim().eq_ignore_ascii_case(token))
}

/// A server-side WebSocket speaking axum's [`Message`]s, that sends long texts in fragments.
pub struct ChatSocket<S> {
    inner: WebSocketStream<S>,
    /// What is left of a fragmented text after the frames already handed to `inner`.
    rest: Option<Bytes>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ChatSocket<S> {
    /// The server's end of a connection whose handshake is done.
    pub async fn server(io: S, config: WebSocketConfig) -> Self {
        Self {
            inner: WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await,
            rest: None,
        }
    }

    /// Hands the rest of a fragmented text to `inner`, a frame at a time, as it takes them.
    fn poll_rest(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        while let Some(rest) = self.rest.take() {
            if let Err(e) = ready!(Pin::new(&mut self.inner).poll_ready(cx)) {
                return Poll::Ready(Err(axum::Error::new(e)));
            }
            let (frame, more) = next_fragment(rest, OpCode::Data(Data::Continue));
            self.rest = more;
            Pin::new(&mut self.inner)
                .start_send(tungstenite::Message::Frame(frame))
                .map_err(axum::Error::new)?;
        }
        Poll::Ready(Ok(()))
    }
}

/// The next frame of a fragmented message from `payload`, and what is left after it.
fn next_fragment(mut payload: Bytes, opcode: OpCode) -> (Frame, Option<Bytes>) {
    if payload.len() <= FRAGMENT {
        return (Frame::message(payload, opcode, true), None);
    }
    let rest = payload.split_off(FRAGMENT);
    (Frame::message(payload, opcode, false), Some(rest))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for ChatSocket<S> {
    type Item = Result<Message, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let message = match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(axum::Error::new(e)))),
                Some(Ok(message)) => message,
            };
            if let Some(message) = from_tungstenite(message) {
                return Poll::Ready(Some(Ok(message)));
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for ChatSocket<S> {
    type Error = axum::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.poll_rest(cx))?;
        Pin::new(&mut self.inner)
            .poll_ready(cx)
            .map_err(axum::Error::new)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        let message = match message {
            // As frames: the bytes are the frame encoded once for a whole room, passed on
            // without a copy or a second UTF-8 check.
            Message::Text(text) => {
                let (frame, rest) = next_fragment(text.into(), OpCode::Data(Data::Text));
                self.rest = rest;
                tungstenite::Message::Frame(frame)
            }
            Message::Binary(bytes) => tungstenite::Message::Binary(bytes),
            Message::Ping(bytes) => tungstenite::Message::Ping(bytes),
            Message::Pong(bytes) => tungstenite::Message::Pong(bytes),
            Message::Close(frame) => {
                tungstenite::Message::Close(frame.map(|CloseFrame { code, reason }| {
                    tungstenite::protocol::CloseFrame {
                        code: code.into(),
                        reason: text_of(reason.into()),
                    }
                }))
            }
        };
        Pin::new(&mut self.inner)
            .start_send(message)
            .map_err(axum::Error::new)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.poll_rest(cx))?;
        Pin::new(&mut self.inner)
            .poll_flush(cx)
            .map_err(axum::Error::new)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.poll_rest(cx))?;
        Pin::new(&mut self.inner)
            .poll_close(cx)
            .map_err(axum::Error::new)
    }
}

/// A received message as axum's type; `None` for raw frames, which are never received.
fn from_tungstenite(message: tungstenite::Message) -> Option<Message> {
    Some(match message {
        tungstenite::Message::Text(text) => Message::Text(axum_text(text)),
        tungstenite::Message::Binary(bytes) => Message::Binary(bytes),
        tungstenite::Message::Ping(bytes) => Message::Ping(bytes),
        tungstenite::Message::Pong(bytes) => Message::Pong(bytes),
        tungstenite::Message::Close(frame) => Message::Close(frame.map(|frame| CloseFrame {
            code: frame.code.into(),
            reason: axum_text(frame.reason),
        })),
        tungstenite::Message::Frame(_) => return None,
    })
}

/// Bytes that were text on the other side are text here (a close reason: a few bytes, checked,
/// never copied).
fn text_of(bytes: Bytes) -> tungstenite::Utf8Bytes {
    tungstenite::Utf8Bytes::try_from(bytes).expect("axum's text is UTF-8")
}

fn axum_text(text: tungstenite::Utf8Bytes) -> Utf8Bytes {
    Utf8Bytes::try_from(Bytes::from(text)).expect("tungstenite's text is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};

    /// The server's end as [`ChatSocket`], and a client's end that refuses any frame over
    /// [`FRAGMENT`] bytes (so a test sees how the server framed what it sent).
    async fn pair() -> (
        ChatSocket<tokio::io::DuplexStream>,
        WebSocketStream<tokio::io::DuplexStream>,
    ) {
        let (server, client) = tokio::io::duplex(1 << 20);
        let strict = WebSocketConfig::default().max_frame_size(Some(FRAGMENT));
        let client = WebSocketStream::from_raw_socket(client, Role::Client, Some(strict)).await;
        (
            ChatSocket::server(server, WebSocketConfig::default()).await,
            client,
        )
    }

    async fn received(
        client: &mut WebSocketStream<tokio::io::DuplexStream>,
    ) -> tungstenite::Message {
        client.next().await.expect("a message").expect("readable")
    }

    #[tokio::test]
    async fn a_long_text_arrives_whole_in_frames_no_larger_than_a_fragment() {
        let (mut server, mut client) = pair().await;
        // Multi-byte characters across the fragment boundaries: only the message is UTF-8.
        let long: String = "héllo wörld ✓ ".repeat(4_000);
        assert!(long.len() > 20 * FRAGMENT);
        server
            .send(Message::Text(long.clone().into()))
            .await
            .unwrap();
        server.send(Message::Text("short".into())).await.unwrap();
        assert_eq!(
            received(&mut client).await,
            tungstenite::Message::text(long)
        );
        assert_eq!(
            received(&mut client).await,
            tungstenite::Message::text("short")
        );
    }

    #[tokio::test]
    async fn fragments_are_written_even_when_only_fed_and_flushed() {
        let (mut server, mut client) = pair().await;
        let long = "x".repeat(3 * FRAGMENT + 1);
        server
            .feed(Message::Text(long.clone().into()))
            .await
            .unwrap();
        server.feed(Message::Text("after".into())).await.unwrap();
        server.flush().await.unwrap();
        assert_eq!(
            received(&mut client).await,
            tungstenite::Message::text(long)
        );
        assert_eq!(
            received(&mut client).await,
            tungstenite::Message::text("after")
        );
    }

    #[tokio::test]
    async fn close_frames_and_client_texts_cross_unchanged() {
        let (mut server, mut client) = pair().await;
        client
            .send(tungstenite::Message::text(r#"{"type":"typing"}"#))
            .await
            .unwrap();
        match server.next().await {
            Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), r#"{"type":"typing"}"#),
            other => panic!("expected the client's text, got {other:?}"),
        }
        server
            .send(Message::Close(Some(CloseFrame {
                code: 4001,
                reason: Utf8Bytes::from_static("logged out"),
            })))
            .await
            .unwrap();
        match received(&mut client).await {
            tungstenite::Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 4001);
                assert_eq!(frame.reason.as_str(), "logged out");
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
