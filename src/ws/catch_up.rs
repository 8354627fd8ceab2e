//! Catching a socket up on a room: what the client lacks, read from the room's shared history
//! (`crate::history`), before live messages flow. Used when a room is entered (the recent page,
//! or exactly what a resuming client missed) and after an interruption (the backfill).

use super::transport::{close, feed, flush, send_msg, SendFailed, Transport};
use super::Connection;
use crate::backend::{BackendError, Replay};
use app::protocol::{close_code, ChatMessage, ErrorCode, MessageId, RoomName, ServerMsg};
use axum::extract::ws::Message;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Messages a new socket gets from the room's history before live ones: a page, so a client
/// that gets fewer knows it has the room's whole history (and the page rendered with them, too).
pub const HISTORY_ON_JOIN: usize = app::protocol::HISTORY_PAGE;
/// A resuming socket's missed messages are read in pages of this many.
const REPLAY_PAGE: usize = 500;
/// A replay read that fails is tried again after 0.25, 0.5, 1, 2 and 4 s (7.75 s in all, well
/// inside a client's heartbeat patience), then the socket closes with 1013 and the client
/// resumes elsewhere. Most failures are brief: an interruption is reported once the
/// subscription is back, while the store may still refuse reads for a few seconds (a Redis
/// Cluster subscribes a replica before it is promoted); closing every socket of the room then
/// would turn one failover into a reconnect storm.
const REPLAY_RETRIES: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(250))
    .with_max_delay(Duration::from_secs(4))
    .with_factor(2.0)
    .with_max_times(5);

impl Connection {
    /// Sends what the client lacks of `room`: everything after `after` (preceded by a `gap`
    /// frame if some of it is gone), else the recent history. `since` is when this socket's
    /// delivery became live (its join, or the end of an interruption): only reads started after
    /// it are shared with it. Returns the last id sent (or `after`).
    pub(super) async fn catch_up<T: Transport>(
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

    /// The page of `room` after `cursor`, tried again (see [`REPLAY_RETRIES`]) while the
    /// backend refuses.
    async fn replay_page(
        &self,
        room: &RoomName,
        cursor: MessageId,
        since: Instant,
    ) -> Result<Arc<Replay>, Arc<BackendError>> {
        let history = &self.state.history;
        for wait in REPLAY_RETRIES.build() {
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
