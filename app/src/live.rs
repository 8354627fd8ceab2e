//! The browser's live connection to a room, and the signals the chat page shows.
//!
//! [`Live`] is a bundle of signals plus a control channel to one long-lived task (browser only,
//! in the `browser` module) that keeps a WebSocket open for as long as the page is:
//!
//! 1. open `/ws?room=…` (with `after=<last id seen>` once it has seen any message);
//! 2. on `hello`: connected; the silence limit now follows the heartbeat interval `hello`
//!    announced; re-send what the outbox holds for a new connection (same `client_id`s, so the
//!    server stores each message once);
//! 3. while connected: show every frame, send what the user writes, and re-send refused messages
//!    when their retry falls due;
//! 4. when the socket closes, errors, or stays silent too long: wait as the reconnect policy
//!    says (a short random delay after a 1012 "service restart", the login form after a 4401,
//!    else exponential backoff with full jitter), then **probe `GET /`** — through the load
//!    balancer this reaches a live instance and rotates the session id — and only after a 2xx
//!    go back to 1.
//!
//! The decisions are pure and unit-tested on the native target: [`outbox`] (what becomes of each
//! message sent) and [`reconnect`] (backoff, close codes, silence). The `browser` module only
//! does the I/O: socket, timers, clock and randomness. Messages are kept by id, so each is shown
//! once and in order however often it arrives.

pub mod outbox;
pub mod reconnect;

#[cfg(feature = "hydrate")]
mod browser;

use crate::protocol::{ChatMessage, ClientId, ClientMsg, MessageId, RoomName, Said, ServerMsg};
use leptos::prelude::*;
use outbox::Outbox;
use std::collections::BTreeMap;

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
}

/// What the page asks of the socket task.
#[derive(Debug)]
pub enum Control {
    /// Send this now if connected (it is in the outbox already, which re-sends it otherwise).
    Send(ClientMsg),
    /// Stop waiting and reconnect now (the user clicked, or the browser came back online).
    RetryNow,
    /// The page is going away: close the socket and stop.
    Stop,
}

/// Most messages kept on screen; older ones drop off the top.
const MAX_SHOWN: usize = 500;

/// The chat page's live state. `Copy`: it is a set of signal handles.
#[derive(Clone, Copy)]
pub struct Live {
    pub room: StoredValue<RoomName>,
    /// Messages by id: each shown once, in id order, however often it arrives.
    pub messages: RwSignal<BTreeMap<MessageId, ChatMessage>>,
    /// Sent but not yet acknowledged, oldest first, each sending, retrying or failed.
    pub outbox: RwSignal<Outbox>,
    pub status: RwSignal<Status>,
    /// The instance the socket is connected to (from the `hello` frame).
    pub instance: RwSignal<Option<String>>,
    /// The last error to show the user.
    pub error: RwSignal<Option<String>>,
    /// Set when a resume could not be complete (a `gap` frame).
    pub gap: RwSignal<bool>,
    control: StoredValue<Option<control::Sender>>,
    /// When (ms on the browser task's clock) the current outage began, for the reconnect-time
    /// log line.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    lost_at: StoredValue<Option<u64>>,
}

impl Live {
    pub fn new(room: RoomName) -> Self {
        Self {
            outbox: RwSignal::new(Outbox::new(room.clone())),
            room: StoredValue::new(room),
            messages: RwSignal::new(BTreeMap::new()),
            status: RwSignal::new(Status::Connecting),
            instance: RwSignal::new(None),
            error: RwSignal::new(None),
            gap: RwSignal::new(false),
            control: StoredValue::new(None),
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

    /// Queues `text` for the room: it shows as pending at once and is sent now if connected,
    /// else after the next reconnect. Returns false (and shows why) when the text is not valid.
    pub fn send(self, text: &str, client_id: ClientId) -> bool {
        if let Err(e) = Said::parse(text) {
            self.error.set(Some(format!("Not sent: {e}.")));
            return false;
        }
        let frame = self
            .outbox
            .try_update(|outbox| outbox.push(client_id, text.to_owned()));
        if let Some(frame) = frame {
            self.control_send(Control::Send(frame));
        }
        true
    }

    /// The user asked to send a failed message again.
    pub fn retry_send(self, client_id: ClientId) {
        let frame = self
            .outbox
            .try_maybe_update(|outbox| {
                let frame = outbox.retry(client_id);
                (frame.is_some(), frame)
            })
            .flatten();
        if let Some(frame) = frame {
            self.control_send(Control::Send(frame));
        }
    }

    /// The user gave up on a failed message.
    pub fn discard_send(self, client_id: ClientId) {
        self.outbox.maybe_update(|outbox| outbox.discard(client_id));
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

    /// The newest message id seen: where a reconnect resumes.
    pub fn last_seen(self) -> Option<MessageId> {
        self.messages
            .with_untracked(|all| all.keys().next_back().copied())
    }

    /// Applies one frame from the server, received at `now_ms` (on the clock the outbox's retry
    /// times use), to the page's state.
    pub fn apply(self, frame: ServerMsg, now_ms: u64) {
        match frame {
            ServerMsg::Hello { instance, .. } => {
                self.instance.set(Some(instance));
                self.status.set(Status::Connected);
            }
            ServerMsg::Message(m) => {
                if let Some(client_id) = m.client_id {
                    self.acknowledged(client_id);
                }
                self.messages.update(|all| {
                    all.insert(m.id, m);
                    while all.len() > MAX_SHOWN {
                        all.pop_first();
                    }
                });
            }
            ServerMsg::Ack { client_id, .. } => self.acknowledged(client_id),
            // About one message: shown on that message only (retrying, or failed with the
            // reason), never in the banner, which a retrying outbox would otherwise flood.
            // An answer for a message no longer waiting for one changes nothing.
            ServerMsg::Error {
                code,
                message,
                client_id: Some(client_id),
            } => self
                .outbox
                .maybe_update(|outbox| outbox.refused(client_id, code, &message, now_ms).is_some()),
            ServerMsg::Error {
                message,
                client_id: None,
                ..
            } => self.error.set(Some(message)),
            ServerMsg::Gap { .. } => self.gap.set(true),
            ServerMsg::Heartbeat => {}
        }
    }

    fn acknowledged(self, client_id: ClientId) {
        self.outbox.maybe_update(|outbox| outbox.acked(client_id));
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
