//! The browser's live connection to a room, and the signals the chat page shows.
//!
//! [`Live`] is a bundle of signals plus a control channel to one long-lived task (browser only,
//! in the `browser` module) that keeps a WebSocket open for as long as the page is:
//!
//! 1. open `/ws?room=…` for the room on screen (with `after=<last id seen>` once it has seen
//!    any message);
//! 2. on `hello`: connected; the silence limit now follows the heartbeat interval `hello`
//!    announced; re-send what the room's outbox holds for a new connection (same `client_id`s,
//!    so the server stores each message once), and `join` every other open room with its own
//!    `after` (each room's waiting messages follow its `joined`);
//! 3. while connected: show every frame, send what the user writes, and re-send refused messages
//!    when their retry falls due;
//! 4. when the socket closes, errors, or stays silent too long: wait as the reconnect policy
//!    says (a short random delay after a 1012 "service restart", the login form after a 4401,
//!    else exponential backoff with full jitter), then **probe `GET /`** — through the load
//!    balancer this reaches a live instance and rotates the session id — and only after a 2xx
//!    go back to 1.
//!
//! The decisions are pure and unit-tested on the native target: [`state`] (the open rooms, their
//! messages by id and what each frame changes), [`outbox`] (what becomes of each message sent)
//! and [`reconnect`] (backoff, close codes, silence). The `browser` module only does the I/O:
//! socket, timers, clock and randomness.

pub mod outbox;
pub mod read_mark;
pub mod reconnect;
pub mod state;
pub mod unsent;

#[cfg(feature = "hydrate")]
mod browser;

use crate::protocol::{
    ChatMessage, ClientId, ClientMsg, ErrorCode, MessageId, RoomName, Said, ServerMsg, UserId,
    TYPING_EVERY_MS,
};
use leptos::prelude::*;
use outbox::RETRY_BASE_MS;
use state::Chat;

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The first connection is being made.
    Connecting,
    Connected,
    /// The connection was lost; the next attempt starts in `retry_in` seconds.
    Waiting {
        reason: String,
        retry_in: u32,
    },
    /// Probing for a live instance and reopening the socket.
    Reconnecting {
        reason: String,
    },
}

impl Status {
    pub fn css(&self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Connected => "connected",
            Status::Waiting { .. } | Status::Reconnecting { .. } => "disconnected",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Status::Connecting => "Connecting…".to_owned(),
            Status::Connected => "Connected".to_owned(),
            Status::Waiting { reason, retry_in } => {
                format!("Connection lost ({reason}). Reconnecting in {retry_in} s…")
            }
            Status::Reconnecting { reason } => format!("Connection lost ({reason}). Reconnecting…"),
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self, Status::Connected)
    }

    /// The connection was lost and is not back yet: what the page shows of the room's
    /// presence is what was true when it was lost.
    pub fn is_lost(&self) -> bool {
        matches!(self, Status::Waiting { .. } | Status::Reconnecting { .. })
    }
}

/// What the page asks of the socket task.
#[derive(Debug)]
pub enum Control {
    /// Send this now if connected (the state keeps what must survive a reconnect).
    Send(ClientMsg),
    /// Stop waiting and reconnect now (the user clicked).
    RetryNow,
    /// The page woke up (shown again, resumed, restored, back online): stop waiting and
    /// reconnect now, and if connected, check at once that the socket still lives.
    Wake,
    /// The page is going away: close the socket and stop.
    Stop,
}

/// The chat page's live state. `Copy`: it is a set of signal handles.
#[derive(Clone, Copy)]
pub struct Live {
    /// The open rooms, their messages and outboxes, and which one is on screen.
    pub chat: RwSignal<Chat>,
    pub status: RwSignal<Status>,
    /// The instance the socket is connected to (from the `hello` frame).
    pub instance: RwSignal<Option<String>>,
    /// The transport the connection runs over (an event stream where WebSockets are blocked).
    pub via: RwSignal<reconnect::Via>,
    /// The last error to show the user.
    pub error: RwSignal<Option<String>>,
    /// The last message that was news (live, said by someone else, unread): what the page may
    /// raise a notification for.
    pub news: RwSignal<Option<ChatMessage>>,
    control: StoredValue<Option<control::Sender>>,
    /// The user's open rooms as the server last listed them (see [`Chat::follow_list`]).
    listed: StoredValue<Vec<RoomName>>,
    /// Where and when the last `typing` signal went.
    typed_at: StoredValue<Option<(RoomName, u64)>>,
    /// When (ms on the browser task's clock) the current outage began, for the reconnect-time
    /// log line.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    lost_at: StoredValue<Option<u64>>,
}

impl Live {
    pub fn new(room: RoomName, me: UserId) -> Self {
        Self {
            chat: RwSignal::new(Chat::new(room).with_user(me)),
            status: RwSignal::new(Status::Connecting),
            instance: RwSignal::new(None),
            via: RwSignal::new(reconnect::Via::Socket),
            error: RwSignal::new(None),
            news: RwSignal::new(None),
            control: StoredValue::new(None),
            listed: StoredValue::new(Vec::new()),
            typed_at: StoredValue::new(None),
            lost_at: StoredValue::new(None),
        }
    }

    /// Starts the socket task (browser only; a no-op on the server).
    pub fn open(self) {
        #[cfg(feature = "hydrate")]
        browser::start(self);
    }

    /// Stops the socket task.
    pub fn close(self) {
        self.control_send(Control::Stop);
        self.control.try_set_value(None);
    }

    /// Asks for an immediate reconnect attempt.
    pub fn retry_now(self) {
        self.control_send(Control::RetryNow);
    }

    /// The page woke up: see [`Control::Wake`].
    pub fn wake(self) {
        self.control_send(Control::Wake);
    }

    /// The room on screen.
    pub fn room(self) -> RoomName {
        self.chat.with(|chat| chat.current().name.clone())
    }

    /// Puts `room` on screen (opening it if new); `scroll` is where the reader was in the room
    /// they leave.
    pub fn show(self, room: RoomName, scroll: Option<i32>) {
        let connected = self.status.with_untracked(Status::is_connected);
        let (join, reads) =
            self.change_and_read(now_ms(), |chat| chat.show(room, scroll, connected));
        for frame in join.into_iter().chain(reads) {
            self.control_send(Control::Send(frame));
        }
    }

    /// The tab was shown or hidden: only what is on screen is read.
    pub fn set_visible(self, visible: bool) {
        let ((), reads) = self.change_and_read(now_ms(), |chat| chat.set_visible(visible));
        for frame in reads {
            self.control_send(Control::Send(frame));
        }
    }

    /// Makes a change to the page's state that may change what is unread on screen, and reads
    /// what is (one update, so the page redraws once). Returns the change's answer and the
    /// `read` frames due at `now_ms`.
    fn change_and_read<R: Default>(
        self,
        now_ms: u64,
        change: impl FnOnce(&mut Chat) -> R,
    ) -> (R, Vec<ClientMsg>) {
        self.chat
            .try_update(|chat| {
                let answer = change(chat);
                (answer, chat.reading(now_ms))
            })
            .unwrap_or_default()
    }

    /// The server listed the user's open rooms as `rooms`: open the ones another tab opened,
    /// close the ones another tab closed (see [`Chat::follow_list`]).
    pub fn follow_list(self, rooms: Vec<RoomName>) {
        let connected = self.status.with_untracked(Status::is_connected);
        let before = self.listed.get_value();
        let frames = self
            .chat
            .try_update(|chat| chat.follow_list(&rooms, &before, connected))
            .unwrap_or_default();
        self.listed.set_value(rooms);
        for frame in frames {
            self.control_send(Control::Send(frame));
        }
    }

    /// Closes a room that is not on screen.
    pub fn close_room(self, room: &RoomName) {
        if let Some(leave) = self.chat.try_update(|chat| chat.close(room)).flatten() {
            self.control_send(Control::Send(leave));
        }
    }

    /// Queues `text` for the room on screen: it shows as pending at once and is sent now if the
    /// socket is in the room, else once it is. Returns false (and shows why) when the text is
    /// not valid.
    /// With `reply_to`, it answers that message of the room.
    pub fn send(self, text: &str, client_id: ClientId, reply_to: Option<MessageId>) -> bool {
        if let Err(e) = Said::parse(text) {
            self.error.set(Some(format!("Not sent: {e}.")));
            return false;
        }
        let frame = self
            .chat
            .try_update(|chat| chat.push(client_id, text.to_owned(), reply_to, now_ms()))
            .flatten();
        if let Some(frame) = frame {
            self.control_send(Control::Send(frame));
        }
        // Whatever is typed next is a new message: say so at once.
        self.typed_at.set_value(None);
        true
    }

    /// Changes the text of the user's message `id` in the room on screen. Not queued: an edit
    /// needs the socket (the page says so when it is not there), and its `edited` record is the
    /// answer. Returns false (and shows why) when it could not go.
    pub fn edit(self, id: MessageId, text: &str) -> bool {
        if let Err(e) = Said::parse(text) {
            self.error.set(Some(format!("Not changed: {e}.")));
            return false;
        }
        self.now(ClientMsg::Edit {
            room: self.room(),
            id,
            text: text.trim().to_owned(),
        })
    }

    /// Turns the user's reaction `emoji` on message `id` of the room on screen on or off.
    pub fn react(self, id: MessageId, emoji: &str, on: bool) -> bool {
        self.now(ClientMsg::React {
            room: self.room(),
            id,
            emoji: emoji.to_owned(),
            on,
        })
    }

    /// Sends `frame` now if the socket is in the room on screen; otherwise says why not.
    fn now(self, frame: ClientMsg) -> bool {
        let joined = self.chat.with_untracked(|chat| chat.current().joined);
        if !joined || !self.status.with_untracked(Status::is_connected) {
            self.error.set(Some(
                "Not connected: try again once the chat is back.".to_owned(),
            ));
            return false;
        }
        self.control_send(Control::Send(frame));
        true
    }

    /// Takes back the messages an earlier page kept unsent (see [`unsent`]): pending again, and
    /// sent as soon as their rooms are joined.
    pub fn restore(self, kept: Vec<unsent::Unsent>) {
        let connected = self.status.with_untracked(Status::is_connected);
        let frames = self
            .chat
            .try_update(|chat| chat.restore(kept, now_ms(), connected))
            .unwrap_or_default();
        for frame in frames {
            self.control_send(Control::Send(frame));
        }
    }

    /// The user asked to send a failed message again.
    pub fn retry_send(self, client_id: ClientId) {
        let frame = self.chat.try_update(|chat| chat.retry(client_id)).flatten();
        if let Some(frame) = frame {
            self.control_send(Control::Send(frame));
        }
    }

    /// The user gave up on a failed message.
    pub fn discard_send(self, client_id: ClientId) {
        self.chat.maybe_update(|chat| chat.discard(client_id));
    }

    fn control_send(self, control: Control) {
        #[cfg(feature = "hydrate")]
        self.control.with_value(|tx| {
            if let Some(tx) = tx {
                // Fails only once the task has ended (the page is going away): nothing to do.
                let _ = tx.unbounded_send(control);
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = control;
    }

    /// Applies one frame from the server, received at `now_ms` (on the clock the outbox's retry
    /// times use), to the page's state. Returns the frames to send in answer.
    pub fn apply(self, frame: ServerMsg, now_ms: u64) -> Vec<ClientMsg> {
        match frame {
            ServerMsg::Hello { instance, room, .. } => {
                self.instance.set(Some(instance));
                self.status.set(Status::Connected);
                return self
                    .chat
                    .try_update(|chat| chat.hello(&room, now_ms))
                    .unwrap_or_default();
            }
            ServerMsg::Joined { room } => {
                return self
                    .chat
                    .try_update(|chat| chat.joined(&room, now_ms))
                    .unwrap_or_default();
            }
            ServerMsg::Left { room } => self.chat.update(|chat| chat.left(&room)),
            ServerMsg::Removed { room, reason } => {
                self.chat.update(|chat| chat.removed(&room));
                self.error.set(Some(reason.explain(&room)));
            }
            // What changes what is unread is read at once if it is on screen.
            ServerMsg::Message(m) => {
                let (room, id) = (m.room.clone(), m.id);
                let (news, reads) = self.change_and_read(now_ms, |chat| {
                    let news = chat.message(m);
                    // Kept by the state; a copy only for what may raise a notification.
                    news.then(|| chat.room(&room)?.messages.get(&id).cloned())
                        .flatten()
                });
                if news.is_some() {
                    self.news.set(news);
                }
                return reads;
            }
            ServerMsg::Read { room, id } => {
                return self.change_and_read(now_ms, |chat| chat.read(&room, id)).1;
            }
            ServerMsg::Ack { client_id, .. } => self.chat.update(|chat| chat.acked(client_id)),
            // About one message: shown on that message only (retrying, or failed with the
            // reason), never in the banner, which a retrying outbox would otherwise flood.
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                message,
                client_id: Some(client_id),
                retry_after_ms,
                ..
            } => self.chat.update(|chat| {
                let wait = retry_after_ms.unwrap_or(RETRY_BASE_MS);
                chat.slowed(client_id, &message, wait, now_ms)
            }),
            // About a message of the room (a refused edit, reaction or reply): said in the
            // banner; the conversation is as it was.
            ServerMsg::Error {
                message,
                client_id: None,
                target: Some(_),
                ..
            } => self.error.set(Some(message)),
            ServerMsg::Error {
                code,
                message,
                client_id: Some(client_id),
                ..
            } => self
                .chat
                .update(|chat| chat.refused(client_id, code, &message, now_ms)),
            ServerMsg::Error {
                code,
                message,
                client_id: None,
                room,
                ..
            } => {
                if let Some(room) = room {
                    match code {
                        // The door stayed shut: the socket is not in the room.
                        ErrorCode::NotFound | ErrorCode::Banned => {
                            self.chat.update(|chat| chat.shut_out(&room))
                        }
                        _ => self.chat.update(|chat| chat.room_error(&room)),
                    }
                }
                self.error.set(Some(message));
            }
            ServerMsg::Gap { room, .. } => self.chat.update(|chat| chat.gap(&room)),
            ServerMsg::Presence { room, count, users } => {
                return self
                    .change_and_read(now_ms, |chat| chat.presence(&room, count, users))
                    .1;
            }
            ServerMsg::History {
                room,
                messages,
                complete,
                ..
            } => self
                .chat
                .update(|chat| chat.older(&room, messages, complete)),
            ServerMsg::Typing { room, users } => {
                self.chat.update(|chat| chat.typing(&room, users, now_ms))
            }
            ServerMsg::Heartbeat => {}
        }
        Vec::new()
    }

    /// The user typed in the composer at `now_ms`: tells the room, at most every
    /// [`TYPING_EVERY_MS`], while the socket is in it. Never queued: a signal that cannot go now
    /// is worthless later.
    pub fn typed(self, now_ms: u64) {
        let Some(room) = self
            .chat
            .with_untracked(|chat| chat.current().joined.then(|| chat.current().name.clone()))
        else {
            return;
        };
        let due = self.typed_at.with_value(|last| match last {
            Some((r, at)) => *r != room || now_ms.saturating_sub(*at) >= TYPING_EVERY_MS,
            None => true,
        });
        if due {
            self.typed_at.set_value(Some((room.clone(), now_ms)));
            self.control_send(Control::Send(ClientMsg::Typing { room }));
        }
    }

    /// Asks for the page of history before the oldest message shown, if one may be asked for
    /// now. Returns whether a request went out.
    pub fn load_older(self) -> bool {
        let ask = self.chat.try_update(Chat::want_older).flatten();
        let asked = ask.is_some();
        if let Some(ask) = ask {
            self.control_send(Control::Send(ask));
        }
        asked
    }

    /// The socket was lost: every room waits for the next `hello`.
    pub fn disconnected(self) {
        self.chat.update(Chat::disconnected);
    }
}

/// Now, in milliseconds on the clock the page's state uses (the browser's wall clock; 0 on the
/// server, which never runs the page's timers).
pub fn now_ms() -> u64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as u64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

/// `HH:MM` in the reader's local time.
pub fn clock_time(unix_ms: u64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_ms as f64));
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let minutes = unix_ms / 60_000;
        format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
    }
}

/// The browser cannot make random message ids, so this page must not send: with a fixed id the
/// server would take every message after the first for a re-send of it and drop it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("This browser cannot make random message ids ({0}), so messages cannot be sent from it.")]
pub struct NoRandomIds(pub String);

/// A fresh id for a message about to be sent, from the browser's `crypto.getRandomValues`.
/// Outside the browser there is no such source, and this fails too.
pub fn new_client_id() -> Result<ClientId, NoRandomIds> {
    #[cfg(feature = "hydrate")]
    {
        let described = |e: wasm_bindgen::JsValue| {
            NoRandomIds(e.as_string().unwrap_or_else(|| format!("{e:?}")))
        };
        let window = web_sys::window().ok_or_else(|| NoRandomIds("no window".to_owned()))?;
        let crypto = window.crypto().map_err(described)?;
        let mut bytes = [0u8; 16];
        crypto
            .get_random_values_with_u8_array(&mut bytes)
            .map_err(described)?;
        Ok(ClientId::from_random_bytes(bytes))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Err(NoRandomIds("not running in a browser".to_owned()))
    }
}

/// The sending half of the control channel (a placeholder type on the server).
mod control {
    #[cfg(feature = "hydrate")]
    pub type Sender = futures::channel::mpsc::UnboundedSender<super::Control>;
    #[cfg(not(feature = "hydrate"))]
    pub type Sender = std::marker::PhantomData<super::Control>;
}
