//! One socket's life: join the URL's room, catch up (recent history, or exactly what was missed),
//! then one loop over shutdown, the rooms' events, the client's frames and the heartbeat. A
//! `join` frame adds a room the same way (catch-up included), a `leave` frame drops one.
//!
//! The loop is generic over its [`Transport`], so its timing (heartbeats, the drain, backfills)
//! is unit-tested with paused time (see `ws::tests`).
//!
//! The rules it keeps:
//! - every message reaches the client once and in id order within its room: anything not newer
//!   than the last id sent from that room is dropped, and after an interruption the gap is
//!   backfilled from the room's stream;
//! - every `send` frame gets exactly one answer: an `ack`, or an `error` naming its `client_id`;
//! - a frame over the hard limit ends the socket with a 1009 close frame, a binary frame with
//!   1003; a logout anywhere ends it with 4401.

use super::admission::Ticket;
use super::rooms::{take_newer, Entered, Room, Rooms, MAX_ROOMS_PER_SOCKET};
use super::transport::{close, feed, flush, is_too_big, send_msg, send_raw, SendFailed, Transport};
use crate::limits::{LocalBucket, Rate};
use crate::metrics::Closed;
use crate::{
    backend::{BackendError, Replay},
    hub::{Outgoing, RoomEvent},
    state::AppState,
};
use app::protocol::{
    client_id_of, close_code, ChatMessage, ClientId, ClientMsg, Draft, ErrorCode, MessageId,
    RoomName, Said, ServerMsg, User, HISTORY_PAGE, MAX_FRAME_BYTES,
};
use axum::extract::ws::Message;
use futures_util::StreamExt;
use std::{future::Future, ops::ControlFlow, sync::Arc, time::Duration};
use tokio::{
    sync::broadcast::error::RecvError,
    time::{Instant, MissedTickBehavior},
};
use tracing::Instrument;

/// Messages a new socket gets from the room's history before live ones: a page, so a client
/// that gets fewer knows it has the room's whole history (and the page rendered with them, too).
pub const HISTORY_ON_JOIN: usize = app::protocol::HISTORY_PAGE;
/// A resuming socket's missed messages are read in pages of this many.
const REPLAY_PAGE: usize = 500;
/// A replay read that fails is tried again after these waits (7.75 s in all, well inside a
/// client's heartbeat patience), then the socket closes with 1013 and the client resumes
/// elsewhere. Most failures are brief: an interruption is reported once the subscription is
/// back, while the store may still refuse reads for a few seconds (a Redis Cluster subscribes
/// a replica before it is promoted); closing every socket of the room then would turn one
/// failover into a reconnect storm.
const REPLAY_RETRIES: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// Most room frames written with one flush: whatever is already waiting in the room's channel
/// when one arrives, up to this many, goes out in one write.
const BATCH: usize = 64;
/// Joins, leaves and history requests one socket may make: 10 a second, 20 at once (enough to
/// rejoin every open room after a reconnect).
const REQUEST_RATE: Rate = Rate {
    interval: Duration::from_millis(100),
    burst: 20,
};
/// How fast one socket goes: its requests' bucket, and the message its others wait behind.
struct Pace {
    requests: LocalBucket,
    held: Option<Held>,
}

/// A socket's message that was slowed down: the socket's other messages wait until it is sent
/// again (or, from a client that never sends it again, [`HELD_AT_MOST`] past its wait).
struct Held {
    client_id: ClientId,
    until_ms: u64,
}

const HELD_AT_MOST: Duration = Duration::from_secs(5);

impl Default for Pace {
    fn default() -> Self {
        Self {
            requests: LocalBucket::new(REQUEST_RATE),
            held: None,
        }
    }
}

/// A socket's typing signals for one room beyond one in this time are ignored.
const TYPING_LIMIT: Duration = Duration::from_secs(1);
/// After closing for an oversize frame, how long the socket stays open unread, so the client
/// reads the close frame before the rest of its frame makes the kernel reset the connection.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

pub struct Connection {
    state: AppState,
    user: User,
    /// The room the URL named: joined before anything else, announced in `hello`.
    room: RoomName,
    /// Set when the client is resuming that room: the last id it has.
    after: Option<MessageId>,
    /// Its place under the socket caps, given back when the connection ends.
    _ticket: Ticket,
}

/// Why a room could not be entered.
enum NotEntered {
    /// The backend could not subscribe this instance to the room; the client was told.
    Unavailable,
    /// The socket can no longer be written to.
    SendFailed,
}

impl From<SendFailed> for NotEntered {
    fn from(_: SendFailed) -> Self {
        NotEntered::SendFailed
    }
}

impl Connection {
    pub fn new(
        state: AppState,
        user: User,
        room: RoomName,
        after: Option<MessageId>,
        ticket: Ticket,
    ) -> Self {
        Self {
            state,
            user,
            room,
            after,
            _ticket: ticket,
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
        let metrics = &self.state.metrics;
        metrics.sockets_opened.inc();
        metrics.sockets_open.inc();
        // Boxed, as is every catch-up: every idle socket's task is as large as the largest
        // state its loop can be in, so the greeting's locals (the hello frame, the history
        // page) must not be part of it.
        let why = match Box::pin(self.greet(&mut socket)).await {
            Ok(mut rooms) => self.live(&mut socket, &mut rooms).await,
            Err(why) => why,
        };
        metrics.socket_closed(why);
        // The rooms are left as they drop. Presence ends after a grace period, so a client that
        // comes back at once, here or elsewhere, never looks gone.
        tracing::info!(reason = ?why, "socket closed");
    }

    /// Enters the URL's room with a `hello`. Returns the socket's rooms, or why the socket is
    /// done.
    async fn greet<T: Transport>(&self, socket: &mut T) -> Result<Rooms, Closed> {
        let hello = ServerMsg::Hello {
            instance: self.state.instance.clone(),
            user: self.user.clone(),
            room: self.room.clone(),
            heartbeat_ms: u64::try_from(self.state.config.heartbeat.as_millis())
                .unwrap_or(u64::MAX),
        };
        match self.enter(socket, &self.room, self.after, hello).await {
            Ok(entered) => {
                let mut rooms = Rooms::default();
                rooms.add(entered);
                Ok(rooms)
            }
            Err(NotEntered::Unavailable) => {
                let _ = close(socket, close_code::AGAIN, "backend unavailable").await;
                Err(Closed::Unavailable)
            }
            Err(NotEntered::SendFailed) => Err(Closed::WriteFailed),
        }
    }

    /// Joins `room` on this instance, sends `greeting`, catches up (from `after`, or the recent
    /// history), enters the room's presence and sends who is there.
    async fn enter<T: Transport>(
        &self,
        socket: &mut T,
        room: &RoomName,
        after: Option<MessageId>,
        greeting: ServerMsg,
    ) -> Result<Entered, NotEntered> {
        // Join before reading history: anything stored after the join reaches the receiver, so
        // history plus live messages have no gap. Duplicates are dropped by id.
        let (membership, receiver) = match self.state.hub.join(room).await {
            Ok(joined) => joined,
            Err(e) => {
                tracing::warn!(error = %e, %room, "could not join room");
                let refusal = ServerMsg::about_room(
                    ErrorCode::Unavailable,
                    "The chat backend is unavailable.",
                    room.clone(),
                );
                send_msg(socket, &refusal).await?;
                return Err(NotEntered::Unavailable);
            }
        };
        let joined = Instant::now();
        send_msg(socket, &greeting).await?;
        let last_sent = Box::pin(self.catch_up(socket, room, after, joined)).await?;
        let here = self.state.presence.enter(room, &self.user).await;
        let presence_version = match self.state.hub.presence(room) {
            Some(frame) => {
                send_raw(socket, Message::Text(frame.bytes)).await?;
                frame.version
            }
            None => 0,
        };
        Ok(Entered {
            membership,
            receiver,
            last_sent,
            here,
            presence_version,
        })
    }

    /// The socket's live loop: shutdown, room events, client frames and heartbeats. Returns why
    /// it ended.
    async fn live<T: Transport>(&self, socket: &mut T, rooms: &mut Rooms) -> Closed {
        let heartbeat_every = self.state.config.heartbeat;
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + heartbeat_every, heartbeat_every);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // On shutdown each socket closes at its own random moment in the drain window, so the
        // reconnects reach the other instances spread out instead of all at once.
        let mut close_at: Option<Instant> = None;
        let mut pace = Pace::default();

        loop {
            tokio::select! {
                _ = self.state.shutdown.cancelled(), if close_at.is_none() => {
                    close_at = Some(Instant::now() + drain_close_delay(self.state.config.drain));
                }
                _ = sleep_until(close_at), if close_at.is_some() => {
                    let _ = close(socket, close_code::RESTART, "server restarting").await;
                    return Closed::Restart;
                }
                _ = heartbeat.tick() => {
                    if send_msg(socket, &ServerMsg::Heartbeat).await.is_err() {
                        return Closed::WriteFailed;
                    }
                }
                // A message is written inline: that is the hot path, and no allocation is made
                // for it. The other events and the client's frames are handled in boxed futures:
                // their states are larger, rarer, and would otherwise be kept by every idle
                // socket's task (it is as large as its largest state).
                (index, event) = rooms.next_event() => {
                    let room = rooms.get_mut(index);
                    let flow = match event {
                        Ok(RoomEvent::Message(outgoing)) => self.deliver(socket, room, outgoing).await,
                        other => Box::pin(self.room_event(socket, room, other)).await,
                    };
                    if let ControlFlow::Break(why) = flow {
                        return why;
                    }
                }
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if Box::pin(self.handle_text(socket, rooms, &mut pace, &text)).await.is_err() {
                            return Closed::WriteFailed;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        tracing::info!("binary frame; closing with 1003");
                        let _ = close(socket, close_code::UNSUPPORTED, "frames must be JSON text").await;
                        return Closed::Protocol;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => return Closed::Client,
                    Some(Err(e)) if is_too_big(&e) => {
                        tracing::info!(error = %e, "frame over the hard limit; closing with 1009");
                        if close(socket, close_code::TOO_BIG, "frame too large").await.is_ok() {
                            tokio::time::sleep(CLOSE_LINGER).await;
                        }
                        return Closed::Protocol;
                    }
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "socket read failed");
                        return Closed::Client;
                    }
                },
            }
        }
    }

    /// Writes a room's message, with whatever else of the room is already waiting.
    async fn deliver<T: Transport>(
        &self,
        socket: &mut T,
        room: &mut Room,
        first: Arc<Outgoing>,
    ) -> ControlFlow<Closed> {
        let written = write_burst(socket, room, first).await;
        go_on(written.map(|frames| {
            self.state.metrics.deliveries.inc_by(frames);
        }))
    }

    /// Handles one event of one of the socket's rooms. Breaks with why the socket is done.
    async fn room_event<T: Transport>(
        &self,
        socket: &mut T,
        room: &mut Room,
        event: Result<RoomEvent, RecvError>,
    ) -> ControlFlow<Closed> {
        match event {
            Ok(RoomEvent::Message(outgoing)) => self.deliver(socket, room, outgoing).await,
            Ok(RoomEvent::Interrupted { since }) => {
                if self.revoked().await {
                    let _ = close(socket, close_code::LOGGED_OUT, "logged out").await;
                    return ControlFlow::Break(Closed::LoggedOut);
                }
                let name = room.name().clone();
                tracing::info!(room = %name, after = ?room.last_sent, "backfilling after an interruption");
                let caught_up = Box::pin(self.catch_up(socket, &name, room.last_sent, since)).await;
                go_on(caught_up.map(|last| room.last_sent = last.max(room.last_sent)))
            }
            Ok(RoomEvent::Presence(frame)) => {
                if frame.version <= room.presence_version {
                    return ControlFlow::Continue(());
                }
                room.presence_version = frame.version;
                go_on(send_raw(socket, Message::Text(frame.bytes)).await)
            }
            Ok(RoomEvent::Typing(frame)) => go_on(send_raw(socket, Message::Text(frame)).await),
            Ok(RoomEvent::LoggedOut(user)) => {
                if user != self.user.id {
                    return ControlFlow::Continue(());
                }
                tracing::info!("the user logged out elsewhere; closing");
                let _ = close(socket, close_code::LOGGED_OUT, "logged out").await;
                ControlFlow::Break(Closed::LoggedOut)
            }
            Err(RecvError::Lagged(missed)) => {
                self.state.metrics.deliveries_dropped_lag.inc_by(missed);
                tracing::warn!(room = %room.name(), missed, "socket fell behind a room; closing it");
                let lagged = ServerMsg::error(
                    ErrorCode::Lagged,
                    "Your connection fell behind. Reconnecting will catch you up.",
                );
                let _ = send_msg(socket, &lagged).await;
                let _ = close(socket, close_code::AGAIN, "fell behind").await;
                ControlFlow::Break(Closed::Lagged)
            }
            // The hub is gone: the instance is stopping.
            Err(RecvError::Closed) => ControlFlow::Break(Closed::Restart),
        }
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

    /// Sends what the client lacks of `room`: everything after `after` (preceded by a `gap`
    /// frame if some of it is gone), else the recent history. `since` is when this socket's
    /// delivery became live (its join, or the end of an interruption): only reads started after
    /// it are shared with it. Returns the last id sent (or `after`).
    async fn catch_up<T: Transport>(
        &self,
        socket: &mut T,
        room: &RoomName,
        after: Option<MessageId>,
        since: Instant,
    ) -> Result<Option<MessageId>, SendFailed> {
        let history = &self.state.history;
        let Some(after) = after else {
            return match history.recent(room, HISTORY_ON_JOIN, since).await {
                Ok(page) => send_page(socket, &page.messages).await,
                Err(e) => {
                    tracing::warn!(error = %e, %room, "could not read history");
                    let unavailable = ServerMsg::about_room(
                        ErrorCode::Unavailable,
                        "History is unavailable right now.",
                        room.clone(),
                    );
                    send_msg(socket, &unavailable).await?;
                    Ok(None)
                }
            };
        };
        let metrics = &self.state.metrics;
        metrics.resumes.inc();
        let mut cursor = after;
        loop {
            let page = match self.replay_page(room, cursor, since).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, %room, "could not replay history; closing");
                    // Without the replay the client would silently miss messages: close, so it
                    // tries again (elsewhere, if need be) with the same `after`.
                    let unavailable = ServerMsg::about_room(
                        ErrorCode::Unavailable,
                        "Could not catch up on missed messages.",
                        room.clone(),
                    );
                    send_msg(socket, &unavailable).await?;
                    let _ = close(socket, close_code::AGAIN, "backend unavailable").await;
                    return Err(SendFailed);
                }
            };
            metrics.replayed.inc_by(page.messages.len() as u64);
            if cursor == after && page.gap {
                metrics.gaps.inc();
                let gap = ServerMsg::Gap {
                    room: room.clone(),
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

    /// Handles one text frame: a `send` gets its one answer (an `ack`, or an `error` that names
    /// its `client_id`), a `join` or `leave` changes the socket's rooms.
    async fn handle_text<T: Transport>(
        &self,
        socket: &mut T,
        rooms: &mut Rooms,
        pace: &mut Pace,
        text: &str,
    ) -> Result<(), SendFailed> {
        if text.len() > MAX_FRAME_BYTES {
            let refusal = ServerMsg::refused(
                ErrorCode::TooLarge,
                format!(
                    "Frames can be at most {MAX_FRAME_BYTES} bytes; this one was {}.",
                    text.len()
                ),
                client_id_of(text),
            );
            return send_msg(socket, &refusal).await;
        }
        let frame = serde_json::from_str::<ClientMsg>(text);
        // Requests that cost reads and subscriptions are limited per socket.
        if let Ok(
            ClientMsg::Join { room, .. }
            | ClientMsg::Leave { room }
            | ClientMsg::History { room, .. },
        ) = &frame
        {
            if let Err(limited) = pace.requests.take(crate::clock::unix_ms()) {
                self.state.metrics.rate_limited_requests.inc();
                let refusal = ServerMsg::rate_limited(
                    "Too many requests on this connection; try again shortly.",
                    None,
                    Some(room.clone()),
                    limited.retry_after_ms(),
                );
                return send_msg(socket, &refusal).await;
            }
        }
        let reply = match frame {
            Ok(ClientMsg::Send {
                room,
                text,
                client_id,
            }) => {
                // Typing after a message is typing a new one: its first signal goes at once.
                if let Some(joined) = rooms.find(&room) {
                    joined.typed_at = None;
                }
                self.say(rooms, pace, room, text, client_id).await
            }
            Ok(ClientMsg::Join { room, after }) => {
                return Box::pin(self.join(socket, rooms, room, after)).await
            }
            Ok(ClientMsg::Typing { room }) => {
                self.typing(rooms, &room).await;
                return Ok(());
            }
            Ok(ClientMsg::History { room, before }) => self.older(rooms, room, before).await,
            Ok(ClientMsg::Leave { room }) => {
                if rooms.remove(&room) {
                    tracing::info!(%room, "left a room");
                }
                ServerMsg::Left { room }
            }
            Err(e) => ServerMsg::refused(
                ErrorCode::BadFrame,
                format!("Unreadable frame: {e}"),
                client_id_of(text),
            ),
        };
        send_msg(socket, &reply).await
    }

    /// Stores what the user said in `room` and returns the answer: `ack` or `error`.
    async fn say(
        &self,
        rooms: &Rooms,
        pace: &mut Pace,
        room: RoomName,
        text: String,
        client_id: ClientId,
    ) -> ServerMsg {
        let metrics = &self.state.metrics;
        metrics.messages_received.inc();
        let refuse = |code, message: String| {
            metrics.messages_refused.inc();
            ServerMsg::refused(code, message, Some(client_id))
        };
        if !rooms.contains(&room) {
            return refuse(ErrorCode::WrongRoom, not_joined(&room));
        }
        let said = match Said::parse(&text) {
            Ok(said) => said,
            Err(e) => return refuse(ErrorCode::InvalidText, format!("Not sent: {e}.")),
        };
        if let Some(ms) = self.over_message_rate(pace, client_id).await {
            metrics.messages_refused.inc();
            metrics.rate_limited_messages.inc();
            return ServerMsg::rate_limited(
                format!(
                    "You are sending too fast; this one goes out in {:.1} s.",
                    ms as f64 / 1000.0
                ),
                Some(client_id),
                None,
                ms,
            );
        }
        let draft = Draft {
            user: self.user.clone(),
            text: said.text,
            kind: said.kind,
            client_id: Some(client_id),
            others: None,
        };
        match self.state.broker.append(&room, &draft).await {
            Ok(appended) => {
                if appended.duplicate {
                    metrics.messages_duplicate.inc();
                } else {
                    metrics.messages_stored.inc();
                }
                ServerMsg::Ack {
                    client_id,
                    id: appended.id,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, %room, "could not store a message");
                metrics.messages_refused.inc();
                unavailable(
                    "Not sent: the chat backend is unavailable. Retrying…",
                    Some(client_id),
                )
            }
        }
    }

    /// Takes a token from the user's message bucket (shared by all their sockets and
    /// instances). Returns how long to wait when there was none. If the limiter cannot be
    /// reached the message goes through: storing it needs the same backend, and will say so.
    ///
    /// Once a message of the socket was slowed down, the socket's other messages are refused too
    /// (without asking the limiter) until that one comes again: a client that sent several at
    /// once gets them all back to send again in order, and a later one is never stored before
    /// an earlier one. Returns the wait in milliseconds.
    async fn over_message_rate(&self, pace: &mut Pace, client_id: ClientId) -> Option<u64> {
        let now = crate::clock::unix_ms();
        if let Some(held) = pace.held.take() {
            let expired = now
                > held
                    .until_ms
                    .saturating_add(HELD_AT_MOST.as_millis() as u64);
            if held.client_id != client_id && !expired {
                let wait = held.until_ms.saturating_sub(now).max(1);
                pace.held = Some(held);
                return Some(wait);
            }
        }
        let key = format!("message:{}", self.user.id);
        match self
            .state
            .limiter
            .take(&key, self.state.config.limits.messages)
            .await
        {
            Ok(None) => None,
            Ok(Some(wait)) => {
                let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
                pace.held = Some(Held {
                    client_id,
                    until_ms: now + ms,
                });
                Some(ms)
            }
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; not limiting");
                None
            }
        }
    }

    /// The page of `room` after `cursor`, tried again (see [`REPLAY_RETRIES`]) while the
    /// backend refuses.
    async fn replay_page(
        &self,
        room: &RoomName,
        cursor: MessageId,
        since: Instant,
    ) -> Result<Arc<Replay>, Arc<BackendError>> {
        let history = &self.state.history;
        for wait in REPLAY_RETRIES {
            match history.after(room, cursor, REPLAY_PAGE, since).await {
                Ok(page) => return Ok(page),
                Err(e) => {
                    tracing::info!(error = %e, %room, ?wait, "could not replay history; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
        history.after(room, cursor, REPLAY_PAGE, since).await
    }

    /// A `history` request: the page of `room` before `before`.
    async fn older(&self, rooms: &Rooms, room: RoomName, before: MessageId) -> ServerMsg {
        if !rooms.contains(&room) {
            let message = not_joined(&room);
            return ServerMsg::about_room(ErrorCode::WrongRoom, message, room);
        }
        match self.state.broker.older(&room, before, HISTORY_PAGE).await {
            Ok(messages) => ServerMsg::History {
                complete: messages.len() < HISTORY_PAGE,
                room,
                before,
                messages,
            },
            Err(e) => {
                tracing::warn!(error = %e, %room, "could not read older history");
                let message = "Older messages are unavailable right now.";
                ServerMsg::about_room(ErrorCode::Unavailable, message, room)
            }
        }
    }

    /// A `typing` frame: passed on to the room on every instance, at most once a second per
    /// socket and room; nothing is answered (and a failure only loses the signal).
    async fn typing(&self, rooms: &mut Rooms, room: &RoomName) {
        let Some(joined) = rooms.find(room) else {
            return;
        };
        let now = Instant::now();
        if joined
            .typed_at
            .is_some_and(|at| now.duration_since(at) < TYPING_LIMIT)
        {
            return;
        }
        joined.typed_at = Some(now);
        if let Err(e) = self.state.broker.typing(room, &self.user).await {
            tracing::debug!(error = %e, %room, "could not pass on a typing signal");
        }
    }

    /// A `join` frame: adds `room` to the socket, answered by `joined` and the room's catch-up.
    /// A room the socket is in already is answered by `joined` alone (it has been sent
    /// everything).
    async fn join<T: Transport>(
        &self,
        socket: &mut T,
        rooms: &mut Rooms,
        room: RoomName,
        after: Option<MessageId>,
    ) -> Result<(), SendFailed> {
        if rooms.contains(&room) {
            return send_msg(socket, &ServerMsg::Joined { room }).await;
        }
        if rooms.len() >= MAX_ROOMS_PER_SOCKET {
            let refusal = ServerMsg::about_room(
                ErrorCode::TooManyRooms,
                format!(
                    "A socket can be in at most {MAX_ROOMS_PER_SOCKET} rooms; leave one first."
                ),
                room,
            );
            return send_msg(socket, &refusal).await;
        }
        let greeting = ServerMsg::Joined { room: room.clone() };
        match self.enter(socket, &room, after, greeting).await {
            Ok(entered) => {
                tracing::info!(%room, resume = after.is_some(), "joined a room");
                rooms.add(entered);
                Ok(())
            }
            // The client was told; the socket and its other rooms carry on.
            Err(NotEntered::Unavailable) => Ok(()),
            Err(NotEntered::SendFailed) => Err(SendFailed),
        }
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

/// Why a frame naming a room the socket is not in was refused.
fn not_joined(room: &RoomName) -> String {
    format!("This socket has not joined #{room}.")
}

/// The loop goes on while the socket can be written to.
fn go_on(sent: Result<(), SendFailed>) -> ControlFlow<Closed> {
    match sent {
        Ok(()) => ControlFlow::Continue(()),
        Err(SendFailed) => ControlFlow::Break(Closed::WriteFailed),
    }
}

/// Writes a room's message and whatever messages of that room are already waiting behind it,
/// up to [`BATCH`] in all, each only if newer than the last id sent, with one flush. Returns how
/// many were written.
async fn write_burst<T: Transport>(
    socket: &mut T,
    room: &mut Room,
    first: Arc<Outgoing>,
) -> Result<u64, SendFailed> {
    let mut queued = 0;
    let mut next = Some(first);
    let mut taken = 0;
    while let Some(outgoing) = next.take() {
        if take_newer(&mut room.last_sent, outgoing.id) {
            feed(socket, Message::Text(outgoing.frame.clone())).await?;
            queued += 1;
        }
        taken += 1;
        if taken == BATCH {
            break;
        }
        next = room.try_next_message();
    }
    if queued > 0 {
        flush(socket).await?;
    }
    Ok(queued)
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
