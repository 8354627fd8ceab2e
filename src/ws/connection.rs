//! One socket's life (the [`Connection`]'s loop): join the URL's room, catch up (recent history, or exactly what was missed),
//! then one loop over shutdown, the rooms' events, the client's frames and the heartbeat. The
//! client's frames arrive decoded (`super::transport::Incoming`) and go to their command
//! (`super::commands`); catching up on a room is `super::catch_up`.
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
//!   1003; a logout anywhere ends it with 4401;
//! - a person taken out of a room (removed, banned, or leaving it elsewhere) gets a `removed`
//!   frame and nothing more from it. The news comes as [`RoomEvent::Removed`]; if it may have
//!   been missed (an interruption), the socket asks the records before it backfills.

use super::commands::{send_read_mark, Pace};
use super::rooms::{take_newer, Entered, NotEntered, Room, Rooms};
use super::transport::{
    self, close, feed, flush, send_msg, send_raw, Incoming, SendFailed, Transport,
};
use super::Connection;
use crate::access::Refusal;
use crate::hub::{mark_of, Outgoing, RoomEvent};
use crate::metrics::Closed;
use app::protocol::{close_code, ErrorCode, MessageId, Removal, RoomName, ServerMsg};
use axum::extract::ws::Message;
use futures_util::StreamExt;
use std::{future::Future, ops::ControlFlow, sync::Arc, time::Duration};
use tokio::{
    sync::broadcast::error::RecvError,
    time::{Instant, MissedTickBehavior},
};
use tracing::Instrument;

/// Most room frames written with one flush: whatever is already waiting in the room's channel
/// when one arrives, up to this many, goes out in one write.
const BATCH: usize = 64;
/// After closing for an oversize frame, how long the socket stays open unread, so the client
/// reads the close frame before the rest of its frame makes the kernel reset the connection.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// What a room's event needs of the loop beyond what it wrote.
enum Outcome {
    /// The socket is done.
    Close(Closed),
    /// The person is no longer in the room: the socket drops it.
    Drop(Removal),
}

impl Connection {
    /// The socket's whole life, in its span. Not an `async fn`: a wrapper state machine around
    /// `serve` would keep its own copy of the connection and of `serve`'s state, in the task of
    /// every socket.
    pub fn run<T: Transport>(self, socket: T) -> impl Future<Output = ()> + Send {
        let span = tracing::info_span!(
            "ws",
            user = %self.sign_in.user.name,
            user_id = %self.sign_in.user.id,
            room = %self.room,
            instance = %self.state.settings.instance,
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
            instance: self.state.settings.instance.clone(),
            user: self.sign_in.user.clone(),
            room: self.room.clone(),
            heartbeat_ms: u64::try_from(self.state.settings.socket.heartbeat.as_millis())
                .unwrap_or(u64::MAX),
        };
        if let Err(refused) = self.door(&self.room).await {
            // Connected, but not to this room: the client may join its other rooms.
            send_msg(socket, &hello)
                .await
                .map_err(|_| Closed::WriteFailed)?;
            send_msg(socket, &refused)
                .await
                .map_err(|_| Closed::WriteFailed)?;
            return Ok(Rooms::default());
        }
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

    /// The door every way into a room passes (the URL's room, a `join`; a resume is the URL's
    /// room with `after=`): whether the records let this person in, or the frame that says why
    /// not (a private room an outsider names is "not found", as a room that does not exist).
    pub(super) async fn door(&self, room: &RoomName) -> Result<(), ServerMsg> {
        let Err(refusal) = self.state.access.enter(&self.sign_in.user, room).await else {
            return Ok(());
        };
        tracing::info!(%room, ?refusal, "refused a room");
        let code = match refusal {
            Refusal::NotFound => ErrorCode::NotFound,
            Refusal::Banned => ErrorCode::Banned,
            Refusal::Unavailable => ErrorCode::Unavailable,
        };
        Err(ServerMsg::about_room(
            code,
            refusal.to_string(),
            room.clone(),
        ))
    }

    /// Joins `room` on this instance, sends `greeting`, catches up (from `after`, or the recent
    /// history), enters the room's presence and sends who is there.
    pub(super) async fn enter<T: Transport>(
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
        // The person's read mark is looked up while the catch-up is read: both requests go out
        // together on the backend's connection, one round trip instead of two per room entered.
        // A move of the mark meanwhile reaches the room's feed, joined above.
        let (last_sent, mark) = tokio::join!(
            Box::pin(self.catch_up(socket, room, after, joined)),
            Box::pin(self.read_mark_of(room)),
        );
        let last_sent = last_sent?;
        // After the catch-up, so the page counts unread messages among what it holds.
        send_read_mark(socket, room, mark).await?;
        let here = self.state.presence.enter(room, &self.sign_in.user).await;
        self.opened(room).await;
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
        let heartbeat_every = self.state.settings.socket.heartbeat;
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
                    close_at = Some(Instant::now() + drain_close_delay(self.state.settings.socket.drain));
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
                    let flow = match event {
                        Ok(RoomEvent::Message(outgoing)) => {
                            self.write_messages(socket, rooms.get_mut(index), outgoing).await
                        }
                        other => Box::pin(self.room_event(socket, rooms, index, other)).await,
                    };
                    if let ControlFlow::Break(why) = flow {
                        return why;
                    }
                }
                frame = socket.next() => {
                    let flow = Box::pin(self.on_frame(socket, rooms, &mut pace, frame)).await;
                    if let ControlFlow::Break(why) = flow {
                        return why;
                    }
                }
            }
        }
    }

    /// Handles what the client sent, decoded by the transport. Breaks with why the socket is
    /// done.
    async fn on_frame<T: Transport>(
        &self,
        socket: &mut T,
        rooms: &mut Rooms,
        pace: &mut Pace,
        frame: Option<Result<Message, axum::Error>>,
    ) -> ControlFlow<Closed> {
        match transport::decode(frame) {
            Incoming::Command(command) => go_on(self.dispatch(socket, rooms, pace, command).await),
            Incoming::Unreadable(refusal) => go_on(send_msg(socket, &refusal).await),
            Incoming::Control => ControlFlow::Continue(()),
            Incoming::Binary => {
                tracing::info!("binary frame; closing with 1003");
                let _ = close(socket, close_code::UNSUPPORTED, "frames must be JSON text").await;
                ControlFlow::Break(Closed::Protocol)
            }
            Incoming::TooBig => {
                if close(socket, close_code::TOO_BIG, "frame too large")
                    .await
                    .is_ok()
                {
                    tokio::time::sleep(CLOSE_LINGER).await;
                }
                ControlFlow::Break(Closed::Protocol)
            }
            Incoming::Gone => ControlFlow::Break(Closed::Client),
        }
    }

    /// Writes a room's message, with whatever else of the room is already waiting (the last step
    /// of a message's path: `Hub::fan_out` handed it to the room's sockets).
    async fn write_messages<T: Transport>(
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

    /// The person is no longer in `room`: the socket drops it (leaving it on this instance,
    /// ending their presence there) and says why.
    async fn drop_room<T: Transport>(
        &self,
        socket: &mut T,
        rooms: &mut Rooms,
        room: RoomName,
        reason: Removal,
    ) -> ControlFlow<Closed> {
        tracing::info!(%room, ?reason, "no longer in a room; dropping it");
        rooms.remove(&room);
        go_on(send_msg(socket, &ServerMsg::Removed { room, reason }).await)
    }

    /// Handles one event of the socket's room at `index`. Breaks with why the socket is done.
    async fn room_event<T: Transport>(
        &self,
        socket: &mut T,
        rooms: &mut Rooms,
        index: usize,
        event: Result<RoomEvent, RecvError>,
    ) -> ControlFlow<Closed> {
        let room = rooms.get_mut(index);
        match self.on_room_event(socket, room, event).await {
            ControlFlow::Continue(()) => ControlFlow::Continue(()),
            ControlFlow::Break(Outcome::Close(why)) => ControlFlow::Break(why),
            ControlFlow::Break(Outcome::Drop(reason)) => {
                let name = room.name().clone();
                self.drop_room(socket, rooms, name, reason).await
            }
        }
    }

    /// What one room event needs of the loop beyond what it wrote.
    async fn on_room_event<T: Transport>(
        &self,
        socket: &mut T,
        room: &mut Room,
        event: Result<RoomEvent, RecvError>,
    ) -> ControlFlow<Outcome> {
        let done = |why| ControlFlow::Break(Outcome::Close(why));
        let sent = |sent| go_on(sent).map_break(Outcome::Close);
        match event {
            Ok(RoomEvent::Message(outgoing)) => self
                .write_messages(socket, room, outgoing)
                .await
                .map_break(Outcome::Close),
            Ok(RoomEvent::Interrupted { since }) => {
                if self.revoked().await {
                    let _ = close(socket, close_code::LOGGED_OUT, "logged out").await;
                    return done(Closed::LoggedOut);
                }
                let name = room.name().clone();
                // The interruption may have swallowed a removal: the records say.
                if let Some(reason) = self.shut_out_of(&name).await {
                    return ControlFlow::Break(Outcome::Drop(reason));
                }
                tracing::info!(room = %name, after = ?room.last_sent, "backfilling after an interruption");
                let caught_up = Box::pin(self.catch_up(socket, &name, room.last_sent, since)).await;
                match caught_up {
                    Ok(last) => room.last_sent = last.max(room.last_sent),
                    Err(failed) => return sent(Err(failed)),
                }
                // A move of the read mark refused while the backend was down is stored now, and
                // the interruption may have swallowed one made elsewhere: the mark goes out.
                self.store_unsaved_mark(&name, &mut room.unsaved_mark).await;
                let mark = self.read_mark_of(&name).await;
                sent(send_read_mark(socket, &name, mark).await)
            }
            Ok(RoomEvent::Removed { user, reason }) if user == self.sign_in.user.id => {
                ControlFlow::Break(Outcome::Drop(reason))
            }
            Ok(RoomEvent::Removed { .. }) => ControlFlow::Continue(()),
            Ok(RoomEvent::Presence(frame)) => {
                if frame.version <= room.presence_version {
                    return ControlFlow::Continue(());
                }
                room.presence_version = frame.version;
                sent(send_raw(socket, Message::Text(frame.bytes)).await)
            }
            Ok(RoomEvent::Typing(frame)) => sent(send_raw(socket, Message::Text(frame)).await),
            Ok(RoomEvent::Reads(moves)) => match mark_of(&moves, self.sign_in.user.id) {
                Some(id) => {
                    let name = room.name().clone();
                    sent(send_msg(socket, &ServerMsg::Read { room: name, id }).await)
                }
                None => ControlFlow::Continue(()),
            },
            Ok(RoomEvent::Revoked(revocation)) => {
                if !revocation.ends(&self.sign_in) {
                    return ControlFlow::Continue(());
                }
                tracing::info!("the user logged out elsewhere; closing");
                let _ = close(socket, close_code::LOGGED_OUT, "logged out").await;
                done(Closed::LoggedOut)
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
                done(Closed::Lagged)
            }
            // The hub is gone: the instance is stopping.
            Err(RecvError::Closed) => done(Closed::Restart),
        }
    }

    /// Whether the records no longer let this person into `room` they are in (asked when news
    /// of a removal may have been missed), and why. Records that cannot be read keep the room:
    /// the person was let in, and the next interruption or door asks again.
    async fn shut_out_of(&self, room: &RoomName) -> Option<Removal> {
        match self.state.access.read(&self.sign_in.user, room).await {
            Err(Refusal::NotFound) => Some(Removal::Removed),
            Err(Refusal::Banned) => Some(Removal::Banned),
            Ok(()) | Err(Refusal::Unavailable) => None,
        }
    }

    /// Whether this socket's user logged out somewhere (checked after an interruption, which
    /// may have swallowed the announcement). A failed check keeps the socket: the session was
    /// valid when it opened, and the next interruption or announcement checks again.
    async fn revoked(&self) -> bool {
        match self.state.signals.is_revoked(&self.sign_in).await {
            Ok(revoked) => revoked,
            Err(e) => {
                tracing::warn!(error = %e, "could not check for a logout");
                false
            }
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

/// The loop goes on while the socket can be written to.
pub(super) fn go_on(sent: Result<(), SendFailed>) -> ControlFlow<Closed> {
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
