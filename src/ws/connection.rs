//! One socket's life: join the room, catch up (recent history, or exactly what was missed), then
//! one loop over shutdown, the room's messages, the client's frames and the heartbeat.

use crate::{hub::Outgoing, state::AppState};
use app::protocol::{
    ClientMsg, Draft, ErrorCode, MessageId, MessageKind, RoomName, Said, ServerMsg, User,
    MAX_FRAME_BYTES,
};
use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{sync::broadcast::error::RecvError, time::MissedTickBehavior};
use tracing::Instrument;

/// Messages a new socket gets from the room's history before live ones.
pub const HISTORY_ON_JOIN: usize = 50;
/// A resuming socket's missed messages are read in pages of this many.
const REPLAY_PAGE: usize = 500;
/// A client that does not take a frame within this time is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Connection {
    state: AppState,
    user: User,
    room: RoomName,
    /// Set when the client is resuming: the last id it has.
    after: Option<MessageId>,
}

/// Why the loop ended, which decides what the room is told.
enum Ended {
    /// The client closed the socket or went away: it left the room.
    ClientLeft,
    /// The server closed it (shutdown, lag, send failure): the client will be back.
    ServerClosed,
}

struct SendFailed;

impl Connection {
    pub fn new(state: AppState, user: User, room: RoomName, after: Option<MessageId>) -> Self {
        Self {
            state,
            user,
            room,
            after,
        }
    }

    pub async fn run(self, socket: WebSocket) {
        let span = tracing::info_span!(
            "ws",
            user = %self.user.name,
            user_id = %self.user.id,
            room = %self.room,
            instance = %self.state.instance,
            resume = self.after.is_some(),
        );
        self.serve(socket).instrument(span).await;
    }

    async fn serve(self, mut socket: WebSocket) {
        tracing::info!("socket open");
        // Join before reading history: anything stored after the join reaches the receiver, so
        // history plus live messages have no gap. Duplicates are dropped by id below.
        let mut membership = match self.state.hub.join(&self.room).await {
            Ok(membership) => membership,
            Err(e) => {
                tracing::warn!(error = %e, "could not join room");
                let _ = send_msg(
                    &mut socket,
                    &unavailable("The chat backend is unavailable."),
                )
                .await;
                let _ = close(&mut socket, close_code::AGAIN, "backend unavailable").await;
                return;
            }
        };
        let joined = Instant::now();
        let hello = ServerMsg::Hello {
            instance: self.state.instance.clone(),
            user: self.user.clone(),
            room: self.room.clone(),
        };
        if send_msg(&mut socket, &hello).await.is_err() {
            return;
        }
        let mut last_sent = match self.catch_up(&mut socket, joined).await {
            Ok(last) => last,
            Err(SendFailed) => return,
        };
        if self.after.is_none() {
            self.announce(MessageKind::Join).await;
        }

        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + self.state.config.heartbeat,
            self.state.config.heartbeat,
        );
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // On shutdown each socket closes at its own random moment in the drain window, so the
        // reconnects reach the other instances spread out instead of all at once.
        let mut close_at: Option<tokio::time::Instant> = None;

        let ended = loop {
            tokio::select! {
                _ = self.state.shutdown.cancelled(), if close_at.is_none() => {
                    let window = self.state.config.drain.as_millis() as u64;
                    close_at = Some(tokio::time::Instant::now() + Duration::from_millis(fastrand::u64(0..=window)));
                }
                _ = sleep_until(close_at), if close_at.is_some() => {
                    let _ = close(&mut socket, close_code::RESTART, "server restarting").await;
                    break Ended::ServerClosed;
                }
                _ = heartbeat.tick() => {
                    if send_msg(&mut socket, &ServerMsg::Heartbeat).await.is_err() {
                        break Ended::ServerClosed;
                    }
                }
                delivery = membership.receiver.recv() => match delivery {
                    Ok(outgoing) => {
                        if last_sent.is_some_and(|last| outgoing.id <= last) {
                            continue;
                        }
                        last_sent = Some(outgoing.id);
                        if send_frame(&mut socket, &outgoing).await.is_err() {
                            break Ended::ServerClosed;
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "socket fell behind its room; closing it");
                        let lagged = ServerMsg::error(
                            ErrorCode::Lagged,
                            "Your connection fell behind. Reconnecting will catch you up.",
                        );
                        let _ = send_msg(&mut socket, &lagged).await;
                        let _ = close(&mut socket, close_code::AGAIN, "fell behind").await;
                        break Ended::ServerClosed;
                    }
                    Err(RecvError::Closed) => break Ended::ServerClosed,
                },
                frame = socket.recv() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let reply = self.handle_text(&text).await;
                        if send_msg(&mut socket, &reply).await.is_err() {
                            break Ended::ServerClosed;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let reply = ServerMsg::error(ErrorCode::BadFrame, "Frames must be JSON text.");
                        if send_msg(&mut socket, &reply).await.is_err() {
                            break Ended::ServerClosed;
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break Ended::ClientLeft,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "socket read failed");
                        break Ended::ClientLeft;
                    }
                },
            }
        };
        if matches!(ended, Ended::ClientLeft) {
            self.announce(MessageKind::Leave).await;
        }
        tracing::info!("socket closed");
    }

    /// Sends what the client needs before live messages: everything after `after` when resuming
    /// (preceded by a `gap` frame if some of it is gone), else the recent history. Returns the
    /// last id sent.
    async fn catch_up(
        &self,
        socket: &mut WebSocket,
        joined: Instant,
    ) -> Result<Option<MessageId>, SendFailed> {
        let history = &self.state.history;
        let Some(after) = self.after else {
            return match history.recent(&self.room, HISTORY_ON_JOIN, joined).await {
                Ok(page) => send_page(socket, &page.messages).await,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read history");
                    send_msg(socket, &unavailable("History is unavailable right now.")).await?;
                    Ok(None)
                }
            };
        };
        let mut cursor = after;
        loop {
            let page = match history.after(&self.room, cursor, REPLAY_PAGE, joined).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "could not replay history");
                    // Without the replay the client would silently miss messages: close, so it
                    // tries again (elsewhere, if need be) with the same `after`.
                    send_msg(
                        socket,
                        &unavailable("Could not catch up on missed messages."),
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

    /// Handles one text frame and returns the reply: an `ack` or an `error`.
    async fn handle_text(&self, text: &str) -> ServerMsg {
        if text.len() > MAX_FRAME_BYTES {
            return ServerMsg::error(
                ErrorCode::TooLarge,
                format!(
                    "Frames can be at most {MAX_FRAME_BYTES} bytes; this one was {}.",
                    text.len()
                ),
            );
        }
        let (room, text, client_id) = match serde_json::from_str::<ClientMsg>(text) {
            Ok(ClientMsg::Send {
                room,
                text,
                client_id,
            }) => (room, text, client_id),
            Err(e) => {
                return ServerMsg::error(ErrorCode::BadFrame, format!("Unreadable frame: {e}"))
            }
        };
        if room != self.room {
            return ServerMsg::error(
                ErrorCode::WrongRoom,
                format!("This socket is in #{}, not #{room}.", self.room),
            );
        }
        let said = match Said::parse(&text) {
            Ok(said) => said,
            Err(e) => return ServerMsg::error(ErrorCode::InvalidText, format!("Not sent: {e}.")),
        };
        let draft = Draft {
            user: self.user.clone(),
            text: said.text,
            kind: said.kind,
            client_id: Some(client_id),
        };
        match self.state.broker.append(&self.room, &draft).await {
            Ok(appended) => ServerMsg::Ack {
                client_id,
                id: appended.id,
            },
            Err(e) => {
                tracing::warn!(error = %e, "could not store a message");
                unavailable("Not sent: the chat backend is unavailable. Try again in a moment.")
            }
        }
    }

    /// Posts a join or leave notice for this user.
    async fn announce(&self, kind: MessageKind) {
        let draft = Draft {
            user: self.user.clone(),
            text: String::new(),
            kind,
            client_id: None,
        };
        if let Err(e) = self.state.broker.append(&self.room, &draft).await {
            tracing::warn!(error = %e, ?kind, "could not post a notice");
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Sends history messages in order; returns the last id sent.
async fn send_page(
    socket: &mut WebSocket,
    messages: &[app::protocol::ChatMessage],
) -> Result<Option<MessageId>, SendFailed> {
    for message in messages {
        send_msg(socket, &ServerMsg::Message(message.clone())).await?;
    }
    Ok(messages.last().map(|m| m.id))
}

fn unavailable(message: &str) -> ServerMsg {
    ServerMsg::error(ErrorCode::Unavailable, message)
}

async fn send_raw(socket: &mut WebSocket, message: Message) -> Result<(), SendFailed> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
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

async fn send_msg(socket: &mut WebSocket, msg: &ServerMsg) -> Result<(), SendFailed> {
    send_raw(socket, Message::Text(msg.to_json().into())).await
}

/// Sends an already-encoded room frame; the bytes are shared with every other socket in the room.
async fn send_frame(socket: &mut WebSocket, outgoing: &Arc<Outgoing>) -> Result<(), SendFailed> {
    send_raw(socket, Message::Text(outgoing.frame.clone())).await
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), SendFailed> {
    send_raw(
        socket,
        Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })),
    )
    .await
}
