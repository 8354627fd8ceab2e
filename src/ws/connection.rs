//! One socket's life: join the room, catch up (recent history, or exactly what was missed), then
//! one loop over shutdown, the room's events, the client's frames and the heartbeat.
//!
//! The loop is generic over its [`Transport`], so its timing (heartbeats, the drain, backfills)
//! is unit-tested with paused time (see `ws::tests`).
//!
//! The rules it keeps:
//! - every message reaches the client once and in id order: anything not newer than the last id
//!   sent is dropped, and after an interruption the gap is backfilled from the room's stream;
//! - every `send` frame gets exactly one answer: an `ack`, or an `error` naming its `client_id`;
//! - a frame over the hard limit ends the socket with a 1009 close frame, a binary frame with
//!   1003; a logout anywhere ends it with 4401.

use super::transport::{close, feed, flush, is_too_big, send_msg, SendFailed, Transport};
use crate::{
    hub::{Membership, Outgoing, RoomEvent},
    state::AppState,
};
use app::protocol::{
    client_id_of, close_code, ChatMessage, ClientMsg, Draft, ErrorCode, MessageId, MessageKind,
    RoomName, Said, ServerMsg, User, MAX_FRAME_BYTES,
};
use axum::extract::ws::Message;
use futures_util::StreamExt;
use std::{future::Future, sync::Arc, time::Duration};
use tokio::{
    sync::broadcast::{
        self,
        error::{RecvError, TryRecvError},
    },
    time::{Instant, MissedTickBehavior},
};
use tracing::Instrument;

/// Messages a new socket gets from the room's history before live ones.
pub const HISTORY_ON_JOIN: usize = 50;
/// A resuming socket's missed messages are read in pages of this many.
const REPLAY_PAGE: usize = 500;
/// Most room frames written with one flush: whatever is already waiting in the room's channel
/// when one arrives, up to this many, goes out in one write.
const BATCH: usize = 64;
/// After closing for an oversize frame, how long the socket stays open unread, so the client
/// reads the close frame before the rest of its frame makes the kernel reset the connection.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

pub struct Connection {
    state: AppState,
    user: User,
    room: RoomName,
    /// Set when the client is resuming: the last id it has.
    after: Option<MessageId>,
}

/// Why the loop ended, which decides what the room is told.
enum Ended {
    /// The client closed the socket, went away, or was logged out: it left the room.
    ClientLeft,
    /// The server closed it (shutdown, lag, send failure): the client will be back.
    ServerClosed,
}

impl Connection {
    pub fn new(state: AppState, user: User, room: RoomName, after: Option<MessageId>) -> Self {
        Self {
            state,
            user,
            room,
            after,
        }
    }

    /// The socket's whole life, in its span. Not an `async fn`: a wrapper state machine around
    /// `serve` would keep its own copy of the connection and of `serve`'s state, in the task of
    /// every socket.
    pub fn run<T: Transport>(self, socket: T) -> impl Future<Output = ()> + Send {
        let span = tracing::info_span!(
            "ws",
            user = %self.user.name,
            user_id = %self.user.id,
            room = %self.room,
            instance = %self.state.instance,
            resume = self.after.is_some(),
        );
        self.serve(socket).instrument(span)
    }

    async fn serve<T: Transport>(self, mut socket: T) {
        tracing::info!("socket open");
        // Boxed, as is the catch-up after an interruption: every idle socket's task is as large
        // as the largest state its loop can be in, so the greeting's locals (the hello frame,
        // the history page) must not be part of it.
        let Some((membership, last_sent)) = Box::pin(self.greet(&mut socket)).await else {
            return;
        };
        let ended = self.live(&mut socket, membership, last_sent).await;
        if matches!(ended, Ended::ClientLeft) {
            self.announce(MessageKind::Leave);
        }
        tracing::info!("socket closed");
    }

    /// Joins the room, says `hello`, catches up and announces the join. Returns the membership
    /// and the last id sent, or `None` when the socket is done.
    async fn greet<T: Transport>(&self, socket: &mut T) -> Option<(Membership, Option<MessageId>)> {
        // Join before reading history: anything stored after the join reaches the receiver, so
        // history plus live messages have no gap. Duplicates are dropped by id below.
        let membership = match self.state.hub.join(&self.room).await {
            Ok(membership) => membership,
            Err(e) => {
                tracing::warn!(error = %e, "could not join room");
                let _ = send_msg(
                    socket,
                    &unavailable("The chat backend is unavailable.", None),
                )
                .await;
                let _ = close(socket, close_code::AGAIN, "backend unavailable").await;
                return None;
            }
        };
        let joined = Instant::now();
        let hello = ServerMsg::Hello {
            instance: self.state.instance.clone(),
            user: self.user.clone(),
            room: self.room.clone(),
            heartbeat_ms: u64::try_from(self.state.config.heartbeat.as_millis())
                .unwrap_or(u64::MAX),
        };
        send_msg(socket, &hello).await.ok()?;
        let last_sent = self.catch_up(socket, self.after, joined).await.ok()?;
        if self.after.is_none() {
            self.announce(MessageKind::Join);
        }
        Some((membership, last_sent))
    }

    /// The socket's live loop: shutdown, room events, client frames and heartbeats.
    async fn live<T: Transport>(
        &self,
        socket: &mut T,
        mut membership: Membership,
        mut last_sent: Option<MessageId>,
    ) -> Ended {
        let heartbeat_every = self.state.config.heartbeat;
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + heartbeat_every, heartbeat_every);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // On shutdown each socket closes at its own random moment in the drain window, so the
        // reconnects reach the other instances spread out instead of all at once.
        let mut close_at: Option<Instant> = None;
        // A room event taken while batching that was not a message: handled next.
        let mut stashed: Option<Result<RoomEvent, RecvError>> = None;

        let ended = loop {
            tokio::select! {
                _ = self.state.shutdown.cancelled(), if close_at.is_none() => {
                    close_at = Some(Instant::now() + drain_close_delay(self.state.config.drain));
                }
                _ = sleep_until(close_at), if close_at.is_some() => {
                    let _ = close(socket, close_code::RESTART, "server restarting").await;
                    break Ended::ServerClosed;
                }
                _ = heartbeat.tick() => {
                    if send_msg(socket, &ServerMsg::Heartbeat).await.is_err() {
                        break Ended::ServerClosed;
                    }
                }
                event = next_event(&mut stashed, &mut membership.receiver) => match event {
                    Ok(RoomEvent::Message(outgoing)) => {
                        let burst = Burst {
                            receiver: &mut membership.receiver,
                            stashed: &mut stashed,
                            last_sent: &mut last_sent,
                        };
                        if burst.write(socket, outgoing).await.is_err() {
                            break Ended::ServerClosed;
                        }
                    }
                    Ok(RoomEvent::Interrupted { since }) => {
                        if self.revoked().await {
                            let _ = close(socket, close_code::LOGGED_OUT, "logged out").await;
                            break Ended::ClientLeft;
                        }
                        tracing::info!(after = ?last_sent, "backfilling after an interruption");
                        match Box::pin(self.catch_up(socket, last_sent, since)).await {
                            Ok(last) => last_sent = last.max(last_sent),
                            Err(SendFailed) => break Ended::ServerClosed,
                        }
                    }
                    Ok(RoomEvent::LoggedOut(user)) => {
                        if user == self.user.id {
                            tracing::info!("the user logged out elsewhere; closing");
                            let _ = close(socket, close_code::LOGGED_OUT, "logged out").await;
                            break Ended::ClientLeft;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "socket fell behind its room; closing it");
                        let lagged = ServerMsg::error(
                            ErrorCode::Lagged,
                            "Your connection fell behind. Reconnecting will catch you up.",
                        );
                        let _ = send_msg(socket, &lagged).await;
                        let _ = close(socket, close_code::AGAIN, "fell behind").await;
                        break Ended::ServerClosed;
                    }
                    Err(RecvError::Closed) => break Ended::ServerClosed,
                },
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let reply = self.handle_text(&text).await;
                        if send_msg(socket, &reply).await.is_err() {
                            break Ended::ServerClosed;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        tracing::info!("binary frame; closing with 1003");
                        let _ = close(socket, close_code::UNSUPPORTED, "frames must be JSON text").await;
                        break Ended::ClientLeft;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break Ended::ClientLeft,
                    Some(Err(e)) if is_too_big(&e) => {
                        tracing::info!(error = %e, "frame over the hard limit; closing with 1009");
                        if close(socket, close_code::TOO_BIG, "frame too large").await.is_ok() {
                            tokio::time::sleep(CLOSE_LINGER).await;
                        }
                        break Ended::ClientLeft;
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "socket read failed");
                        break Ended::ClientLeft;
                    }
                },
            }
        };
        ended
    }

    /// Whether this socket's user logged out somewhere (checked after an interruption, which
    /// may have swallowed the announcement). A failed check keeps the socket: the session was
    /// valid when it opened, and the next interruption or announcement checks again.
    async fn revoked(&self) -> bool {
        match self.state.broker.is_revoked(self.user.id).await {
            Ok(revoked) => revoked,
            Err(e) => {
                tracing::warn!(error = %e, "could not check for a logout");
                false
            }
        }
    }

    /// Sends what the client lacks: everything after `after` (preceded by a `gap` frame if some
    /// of it is gone), else the recent history. `since` is when this socket's delivery became
    /// live (its join, or the end of an interruption): only reads started after it are shared
    /// with it. Returns the last id sent (or `after`).
    async fn catch_up<T: Transport>(
        &self,
        socket: &mut T,
        after: Option<MessageId>,
        since: Instant,
    ) -> Result<Option<MessageId>, SendFailed> {
        let history = &self.state.history;
        let Some(after) = after else {
            return match history.recent(&self.room, HISTORY_ON_JOIN, since).await {
                Ok(page) => send_page(socket, &page.messages).await,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read history");
                    send_msg(
                        socket,
                        &unavailable("History is unavailable right now.", None),
                    )
                    .await?;
                    Ok(None)
                }
            };
        };
        let mut cursor = after;
        loop {
            let page = match history.after(&self.room, cursor, REPLAY_PAGE, since).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "could not replay history");
                    // Without the replay the client would silently miss messages: close, so it
                    // tries again (elsewhere, if need be) with the same `after`.
                    send_msg(
                        socket,
                        &unavailable("Could not catch up on missed messages.", None),
                    )
                    .await?;
                    let _ = close(socket, close_code::AGAIN, "backend unavailable").await;
                    return Err(SendFailed);
                }
            };
            if cursor == after && page.gap {
                let gap = ServerMsg::Gap {
                    room: self.room.clone(),
                    after,
                    first: page.messages.first().map(|m| m.id),
                };
                send_msg(socket, &gap).await?;
            }
            if let Some(last) = send_page(socket, &page.messages).await? {
                cursor = last;
            }
            if page.messages.len() < REPLAY_PAGE {
                // The client has everything up to `cursor` (at least `after`, which it had).
                return Ok(Some(cursor));
            }
        }
    }

    /// Handles one text frame and returns its one answer: an `ack`, or an `error` that names the
    /// frame's `client_id` when it has one.
    async fn handle_text(&self, text: &str) -> ServerMsg {
        if text.len() > MAX_FRAME_BYTES {
            return ServerMsg::refused(
                ErrorCode::TooLarge,
                format!(
                    "Frames can be at most {MAX_FRAME_BYTES} bytes; this one was {}.",
                    text.len()
                ),
                client_id_of(text),
            );
        }
        let (room, text, client_id) = match serde_json::from_str::<ClientMsg>(text) {
            Ok(ClientMsg::Send {
                room,
                text,
                client_id,
            }) => (room, text, client_id),
            Err(e) => {
                return ServerMsg::refused(
                    ErrorCode::BadFrame,
                    format!("Unreadable frame: {e}"),
                    client_id_of(text),
                )
            }
        };
        let refuse = |code, message: String| ServerMsg::refused(code, message, Some(client_id));
        if room != self.room {
            return refuse(
                ErrorCode::WrongRoom,
                format!("This socket is in #{}, not #{room}.", self.room),
            );
        }
        let said = match Said::parse(&text) {
            Ok(said) => said,
            Err(e) => return refuse(ErrorCode::InvalidText, format!("Not sent: {e}.")),
        };
        let draft = Draft {
            user: self.user.clone(),
            text: said.text,
            kind: said.kind,
            client_id: Some(client_id),
            others: None,
        };
        match self.state.broker.append(&self.room, &draft).await {
            Ok(appended) => ServerMsg::Ack {
                client_id,
                id: appended.id,
            },
            Err(e) => {
                tracing::warn!(error = %e, "could not store a message");
                unavailable(
                    "Not sent: the chat backend is unavailable. Retrying…",
                    Some(client_id),
                )
            }
        }
    }

    /// Announces that this user joined or left the room (throttled: see `notices`).
    fn announce(&self, kind: MessageKind) {
        self.state.notices.announce(&self.room, kind, &self.user);
    }
}

/// When, after the drain begins, a socket closes: at a random moment in the drain window, but
/// not in its first fifth. Readiness turns 503 the moment the drain begins; the notice gives the
/// load balancer time to see it (HAProxy here needs two failed checks, 0.5 s apart) before the
/// first clients reconnect, so they are not sent back to the draining instance.
pub fn drain_close_delay(window: Duration) -> Duration {
    let notice = window / 5;
    let spread = u64::try_from((window - notice).as_millis()).unwrap_or(u64::MAX);
    notice + Duration::from_millis(fastrand::u64(0..=spread))
}

/// A room message and whatever else is already waiting behind it, written with one flush.
struct Burst<'a> {
    receiver: &'a mut broadcast::Receiver<RoomEvent>,
    /// Where a waiting event that is not a message goes, to be handled next.
    stashed: &'a mut Option<Result<RoomEvent, RecvError>>,
    last_sent: &'a mut Option<MessageId>,
}

impl Burst<'_> {
    /// Queues `first` and up to [`BATCH`] messages in all (each only if newer than the last id
    /// sent), then flushes once.
    async fn write<T: Transport>(
        self,
        socket: &mut T,
        first: Arc<Outgoing>,
    ) -> Result<(), SendFailed> {
        let mut queued = false;
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(outgoing) = next.take() {
            if self.last_sent.is_none_or(|last| outgoing.id > last) {
                *self.last_sent = Some(outgoing.id);
                feed(socket, Message::Text(outgoing.frame.clone())).await?;
                queued = true;
            }
            taken += 1;
            if taken == BATCH {
                break;
            }
            match self.receiver.try_recv() {
                Ok(RoomEvent::Message(more)) => next = Some(more),
                Ok(other) => *self.stashed = Some(Ok(other)),
                Err(TryRecvError::Lagged(n)) => *self.stashed = Some(Err(RecvError::Lagged(n))),
                Err(TryRecvError::Closed) => *self.stashed = Some(Err(RecvError::Closed)),
                Err(TryRecvError::Empty) => {}
            }
        }
        if queued {
            flush(socket).await?;
        }
        Ok(())
    }
}

/// The next room event: a stashed one first, else the next from the channel.
async fn next_event(
    stashed: &mut Option<Result<RoomEvent, RecvError>>,
    receiver: &mut broadcast::Receiver<RoomEvent>,
) -> Result<RoomEvent, RecvError> {
    match stashed.take() {
        Some(event) => event,
        None => receiver.recv().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Sends history messages in order, written with one flush; returns the last id sent.
async fn send_page<T: Transport>(
    socket: &mut T,
    messages: &[ChatMessage],
) -> Result<Option<MessageId>, SendFailed> {
    for message in messages {
        let frame = ServerMsg::Message(message.clone()).to_json();
        feed(socket, Message::Text(frame.into())).await?;
    }
    if !messages.is_empty() {
        flush(socket).await?;
    }
    Ok(messages.last().map(|m| m.id))
}

fn unavailable(message: &str, client_id: Option<app::protocol::ClientId>) -> ServerMsg {
    ServerMsg::refused(ErrorCode::Unavailable, message, client_id)
}
