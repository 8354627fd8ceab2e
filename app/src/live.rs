//! The browser's live connection to a room, and the signals the chat page shows.
//!
//! [`Live`] is a bundle of signals plus a control channel to one long-lived task (browser only,
//! in the `browser` module) that keeps a WebSocket open for as long as the page is:
//!
//! 1. open `/ws?room=…` (with `after=<last id seen>` once it has seen any message);
//! 2. on `hello`: connected; re-send every message still in the outbox (same `client_id`s, so
//!    the server stores each once);
//! 3. when the socket closes, errors, or goes quiet for two heartbeats: wait (a short random
//!    delay after a 1012 "service restart", else exponential backoff with full jitter, 250 ms
//!    doubling to 10 s), then **probe `GET /`** — through the load balancer this reaches a live
//!    instance and rotates the session id — and only after a 2xx go back to 1.
//!
//! Messages are kept by id, so each is shown once and in order however often it arrives.

use crate::protocol::{ChatMessage, ClientId, ClientMsg, MessageId, RoomName, Said, ServerMsg};
use leptos::prelude::*;
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

/// A message the user sent that the server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_id: ClientId,
    pub text: String,
}

/// What the page asks of the socket task.
#[derive(Debug)]
pub enum Control {
    /// Send this (it is in the outbox already).
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
    /// Sent but not yet acknowledged, oldest first. Re-sent after every reconnect.
    pub outbox: RwSignal<Vec<Pending>>,
    pub status: RwSignal<Status>,
    /// The instance the socket is connected to (from the `hello` frame).
    pub instance: RwSignal<Option<String>>,
    /// The last error to show the user.
    pub error: RwSignal<Option<String>>,
    /// Set when a resume could not be complete (a `gap` frame).
    pub gap: RwSignal<bool>,
    control: StoredValue<Option<control::Sender>>,
    /// When (ms since epoch) the current outage began, for the reconnect-time log line.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    lost_at: StoredValue<Option<f64>>,
}

impl Live {
    pub fn new(room: RoomName) -> Self {
        Self {
            room: StoredValue::new(room),
            messages: RwSignal::new(BTreeMap::new()),
            outbox: RwSignal::new(Vec::new()),
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
        let msg = ClientMsg::Send {
            room: self.room.get_value(),
            text: text.to_owned(),
            client_id,
        };
        self.outbox.update(|outbox| {
            outbox.push(Pending {
                client_id,
                text: text.to_owned(),
            })
        });
        self.control_send(Control::Send(msg));
        true
    }

    fn control_send(self, control: Control) {
        #[cfg(feature = "hydrate")]
        self.control.with_value(|tx| {
            if let Some(tx) = tx {
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

    /// The outbox as frames to re-send.
    pub fn unacknowledged(self) -> Vec<ClientMsg> {
        let room = self.room.get_value();
        self.outbox.with_untracked(|outbox| {
            outbox
                .iter()
                .map(|p| ClientMsg::Send {
                    room: room.clone(),
                    text: p.text.clone(),
                    client_id: p.client_id,
                })
                .collect()
        })
    }

    /// Applies one frame from the server to the page's state.
    pub fn apply(self, frame: ServerMsg) {
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
            ServerMsg::Error { message, .. } => self.error.set(Some(message)),
            ServerMsg::Gap { .. } => self.gap.set(true),
            ServerMsg::Heartbeat => {}
        }
    }

    fn acknowledged(self, client_id: ClientId) {
        if self
            .outbox
            .with_untracked(|o| o.iter().any(|p| p.client_id == client_id))
        {
            self.outbox
                .update(|o| o.retain(|p| p.client_id != client_id));
        }
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

/// A fresh id for a message about to be sent (random bytes from the browser's crypto).
pub fn new_client_id() -> ClientId {
    #[allow(unused_mut)]
    let mut bytes = [0u8; 16];
    #[cfg(feature = "hydrate")]
    if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = crypto.get_random_values_with_u8_array(&mut bytes);
    }
    ClientId::from_random_bytes(bytes)
}

/// The sending half of the control channel (a placeholder type on the server).
mod control {
    #[cfg(feature = "hydrate")]
    pub type Sender = futures::channel::mpsc::UnboundedSender<super::Control>;
    #[cfg(not(feature = "hydrate"))]
    pub type Sender = std::marker::PhantomData<super::Control>;
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{Control, Live, Status};
    use crate::protocol::{
        ClientMsg, MessageId, RoomName, ServerMsg, HEARTBEAT_SECS, SESSION_HEADER,
    };
    use futures::{channel::mpsc, FutureExt, SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
    use gloo_timers::future::sleep;
    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use std::time::Duration;

    /// Backoff: the first retry waits up to this long...
    const BACKOFF_BASE_MS: u64 = 250;
    /// ...doubling per failed attempt, up to this.
    const BACKOFF_CAP_MS: u64 = 10_000;
    /// A connection that lasted this long resets the backoff.
    const STABLE_MS: f64 = 10_000.0;
    /// After a 1012 (the instance is restarting) reconnect within this, at random.
    const RESTART_DELAY_MAX_MS: u64 = 1_000;
    /// Silence longer than this (two heartbeats and some slack) means the connection is dead.
    const SILENCE_LIMIT: Duration = Duration::from_secs(2 * HEARTBEAT_SECS + 5);

    type Controls = mpsc::UnboundedReceiver<Control>;

    /// How a connection attempt or a connection ended.
    enum Outcome {
        /// The page is going away.
        Stop,
        /// Lost: why, the close code if any, and how long it had been connected.
        Lost {
            reason: String,
            code: Option<u16>,
            connected_ms: f64,
        },
    }

    pub fn start(live: Live) {
        let (tx, rx) = mpsc::unbounded();
        live.control.set_value(Some(tx));
        spawn_local(run(live, rx));
    }

    fn now_ms() -> f64 {
        js_sys::Date::now()
    }

    fn random_below(limit_ms: u64) -> u64 {
        (js_sys::Math::random() * limit_ms as f64) as u64
    }

    fn ws_url(room: &RoomName, after: Option<MessageId>) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        let host = location.host().ok()?;
        Some(match after {
            Some(after) => format!("{scheme}://{host}/ws?room={room}&after={after}"),
            None => format!("{scheme}://{host}/ws?room={room}"),
        })
    }

    async fn run(live: Live, mut control: Controls) {
        let mut failures: u32 = 0;
        let mut first = true;
        loop {
            if !first {
                match probe().await {
                    Ok(()) => {}
                    Err(Probe::LoggedOut) => {
                        // The session is gone (logged out elsewhere, or expired): show the login.
                        let _ = web_sys::window().map(|w| w.location().reload());
                        return;
                    }
                    Err(Probe::Failed(reason)) => {
                        failures += 1;
                        if wait(live, &mut control, &reason, backoff(failures))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        continue;
                    }
                }
            }
            first = false;
            match connect(live, &mut control).await {
                Outcome::Stop => return,
                Outcome::Lost {
                    reason,
                    code,
                    connected_ms,
                } => {
                    if live.lost_at.get_value().is_none() {
                        live.lost_at.set_value(Some(now_ms()));
                    }
                    live.status.try_set(Status::Reconnecting {
                        reason: reason.clone(),
                    });
                    let delay = if code == Some(1012) {
                        failures = 0;
                        Duration::from_millis(random_below(RESTART_DELAY_MAX_MS))
                    } else {
                        if connected_ms >= STABLE_MS {
                            failures = 0;
                        }
                        failures += 1;
                        backoff(failures)
                    };
                    if wait(live, &mut control, &reason, delay).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Full jitter: a random delay up to `min(cap, base * 2^(attempt-1))`.
    fn backoff(attempt: u32) -> Duration {
        let ceiling = BACKOFF_BASE_MS
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(BACKOFF_CAP_MS);
        Duration::from_millis(random_below(ceiling.max(1)))
    }

    /// Waits `delay`, counting down in the banner; a retry request or `online` cuts it short.
    /// Err when the page stops.
    async fn wait(
        live: Live,
        control: &mut Controls,
        reason: &str,
        delay: Duration,
    ) -> Result<(), ()> {
        let until = now_ms() + delay.as_millis() as f64;
        loop {
            let left = until - now_ms();
            if left <= 0.0 {
                break;
            }
            live.status.try_set(Status::Waiting {
                reason: reason.to_owned(),
                retry_in: (left / 1000.0).ceil() as u32,
            });
            let tick = Duration::from_millis(left.min(1000.0) as u64);
            futures::select_biased! {
                c = control.next() => match c {
                    None | Some(Control::Stop) => return Err(()),
                    Some(Control::RetryNow) => break,
                    // Stays in the outbox; sent after the reconnect.
                    Some(Control::Send(_)) => {}
                },
                _ = sleep(tick).fuse() => {}
            }
        }
        live.status.try_set(Status::Reconnecting {
            reason: reason.to_owned(),
        });
        Ok(())
    }

    enum Probe {
        LoggedOut,
        Failed(String),
    }

    /// `GET /` with the cookies: reaches a live instance through the load balancer (which moves
    /// the affinity cookie there) and rotates the session id.
    async fn probe() -> Result<(), Probe> {
        let response = gloo_net::http::Request::get("/")
            .credentials(web_sys::RequestCredentials::Include)
            .cache(web_sys::RequestCache::NoStore)
            .send()
            .await
            .map_err(|e| Probe::Failed(format!("server unreachable: {e}")))?;
        if !response.ok() {
            return Err(Probe::Failed(format!(
                "server answered {}",
                response.status()
            )));
        }
        if response.headers().get(SESSION_HEADER).as_deref() == Some("none") {
            return Err(Probe::LoggedOut);
        }
        Ok(())
    }

    /// One connection, from opening the socket until it is lost.
    async fn connect(live: Live, control: &mut Controls) -> Outcome {
        let lost = |reason: String, code: Option<u16>, since: Option<f64>| Outcome::Lost {
            reason,
            code,
            connected_ms: since.map_or(0.0, |t| now_ms() - t),
        };
        let room = live.room.get_value();
        let Some(url) = ws_url(&room, live.last_seen()) else {
            return lost("no browser location".to_owned(), None, None);
        };
        let socket = match WebSocket::open(&url) {
            Ok(socket) => socket,
            Err(e) => return lost(e.to_string(), None, None),
        };
        let (mut write, mut read) = socket.split();
        let mut connected_at: Option<f64> = None;
        let mut heard_at = now_ms();
        loop {
            let silence_left = (heard_at + SILENCE_LIMIT.as_millis() as f64 - now_ms()).max(0.0);
            let frame = futures::select_biased! {
                c = control.next() => match c {
                    None | Some(Control::Stop) => {
                        let _ = write.close().await;
                        return Outcome::Stop;
                    }
                    Some(Control::RetryNow) => continue,
                    Some(Control::Send(msg)) => {
                        if connected_at.is_some() && send(&mut write, &msg).await.is_err() {
                            return lost("send failed".to_owned(), None, connected_at);
                        }
                        continue;
                    }
                },
                frame = read.next().fuse() => frame,
                _ = sleep(Duration::from_millis(silence_left as u64)).fuse() => {
                    let _ = write.close().await;
                    return lost("no heartbeat from the server".to_owned(), None, connected_at);
                }
            };
            heard_at = now_ms();
            match frame {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerMsg>(&text) {
                    Ok(frame) => {
                        let hello = matches!(frame, ServerMsg::Hello { .. });
                        live.apply(frame);
                        if hello {
                            connected_at = Some(now_ms());
                            if let Some(lost_at) = live.lost_at.get_value() {
                                leptos::logging::log!(
                                    "switchboard: reconnected to {} {} ms after the connection was lost",
                                    live.instance.get_untracked().unwrap_or_default(),
                                    (now_ms() - lost_at).round()
                                );
                                live.lost_at.set_value(None);
                            }
                            live.gap.set(false);
                            for msg in live.unacknowledged() {
                                if send(&mut write, &msg).await.is_err() {
                                    return lost("send failed".to_owned(), None, connected_at);
                                }
                            }
                        }
                    }
                    Err(e) => leptos::logging::warn!("ignoring unreadable frame: {e}"),
                },
                Some(Ok(Message::Bytes(_))) => {}
                Some(Err(WebSocketError::ConnectionClose(close))) => {
                    let reason = match (close.code, close.reason.as_str()) {
                        (1012, _) => "the server is restarting".to_owned(),
                        (_, "") => format!("connection closed, code {}", close.code),
                        (_, reason) => reason.to_owned(),
                    };
                    return lost(reason, Some(close.code), connected_at);
                }
                Some(Err(e)) => return lost(e.to_string(), None, connected_at),
                None => return lost("connection closed".to_owned(), None, connected_at),
            }
        }
    }

    async fn send(
        write: &mut futures::stream::SplitSink<WebSocket, Message>,
        msg: &ClientMsg,
    ) -> Result<(), WebSocketError> {
        let json = serde_json::to_string(msg).expect("ClientMsg always serializes");
        write.send(Message::Text(json)).await
    }
}
