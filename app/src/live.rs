//! The browser's live connection to the room: one WebSocket, and the signals the chat page shows.
//!
//! [`Live`] is a bundle of signals plus a handle to the socket task. On the server it only holds
//! empty state (effects never run there); the socket itself lives in the `browser` module, compiled
//! only with the `hydrate` feature.

use crate::protocol::{ChatMessage, ClientMsg, MessageId, RoomName, ServerMsg};
use leptos::prelude::*;
use std::collections::BTreeMap;

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Connected,
    /// The socket closed or failed; the text says why.
    Disconnected(String),
}

impl Status {
    pub fn css(&self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Connected => "connected",
            Status::Disconnected(_) => "disconnected",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Status::Connecting => "Connecting…".to_owned(),
            Status::Connected => "Connected".to_owned(),
            Status::Disconnected(why) => {
                format!("Disconnected: {why}. Reload the page to reconnect.")
            }
        }
    }
}

/// Most messages kept on screen; older ones drop off the top.
const MAX_SHOWN: usize = 500;

/// The chat page's live state. `Copy`: it is a set of signal handles.
#[derive(Clone, Copy)]
pub struct Live {
    /// Messages by id: each shown once, in id order, however often it arrives.
    pub messages: RwSignal<BTreeMap<MessageId, ChatMessage>>,
    pub status: RwSignal<Status>,
    /// The instance the socket is connected to (from the `hello` frame).
    pub instance: RwSignal<Option<String>>,
    /// The last error to show the user.
    pub error: RwSignal<Option<String>>,
    outgoing: StoredValue<Option<futures_channel::Sender>>,
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

impl Live {
    pub fn new() -> Self {
        Self {
            messages: RwSignal::new(BTreeMap::new()),
            status: RwSignal::new(Status::Connecting),
            instance: RwSignal::new(None),
            error: RwSignal::new(None),
            outgoing: StoredValue::new(None),
        }
    }

    /// Opens the socket to `room` (browser only; a no-op on the server).
    pub fn open(self, room: RoomName) {
        #[cfg(feature = "hydrate")]
        browser::open(self, room);
        #[cfg(not(feature = "hydrate"))]
        let _ = room;
    }

    /// Closes the socket; the task ends when it sees its sender dropped.
    pub fn close(self) {
        self.outgoing.try_set_value(None);
    }

    /// Sends `text` to the room. Returns false (and shows why) when it could not be sent.
    pub fn send(self, text: &str) -> bool {
        if let Err(e) = crate::protocol::Said::parse(text) {
            self.error.set(Some(format!("Not sent: {e}.")));
            return false;
        }
        #[cfg(feature = "hydrate")]
        {
            browser::send(self, text)
        }
        #[cfg(not(feature = "hydrate"))]
        false
    }

    /// Applies one frame from the server to the page's state.
    pub fn apply(self, frame: ServerMsg) {
        match frame {
            ServerMsg::Hello { instance, .. } => {
                self.instance.set(Some(instance));
                self.status.set(Status::Connected);
            }
            ServerMsg::Message(m) => self.messages.update(|all| {
                all.insert(m.id, m);
                while all.len() > MAX_SHOWN {
                    all.pop_first();
                }
            }),
            ServerMsg::Ack { .. } => {}
            ServerMsg::Error { message, .. } => self.error.set(Some(message)),
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

/// The sending half of the socket task's queue.
mod futures_channel {
    #[cfg(feature = "hydrate")]
    pub type Sender = futures::channel::mpsc::UnboundedSender<super::ClientMsg>;
    #[cfg(not(feature = "hydrate"))]
    pub type Sender = std::marker::PhantomData<super::ClientMsg>;
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{Live, Status};
    use crate::protocol::{ClientId, ClientMsg, RoomName, ServerMsg};
    use futures::{channel::mpsc, stream, SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
    use leptos::prelude::*;
    use leptos::task::spawn_local;

    enum Event {
        Out(ClientMsg),
        In(Result<Message, WebSocketError>),
        /// The page dropped its sender: close the socket.
        Quit,
        /// The server side closed.
        Ended,
    }

    fn ws_url(room: &RoomName) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!(
            "{scheme}://{}/ws?room={room}",
            location.host().ok()?
        ))
    }

    pub fn client_id() -> ClientId {
        let mut bytes = [0u8; 16];
        if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
            let _ = crypto.get_random_values_with_u8_array(&mut bytes);
        }
        ClientId::from_random_bytes(bytes)
    }

    pub fn send(live: Live, text: &str) -> bool {
        let room = RoomName::lobby();
        let msg = ClientMsg::Send {
            room,
            text: text.to_owned(),
            client_id: client_id(),
        };
        let sent = live
            .outgoing
            .with_value(|tx| tx.as_ref().map(|tx| tx.unbounded_send(msg).is_ok()))
            .unwrap_or(false);
        if !sent || !matches!(live.status.get_untracked(), Status::Connected) {
            live.error
                .set(Some("Not sent: you are not connected.".to_owned()));
            return false;
        }
        true
    }

    pub fn open(live: Live, room: RoomName) {
        let Some(url) = ws_url(&room) else {
            live.status
                .set(Status::Disconnected("no browser location".to_owned()));
            return;
        };
        let (tx, rx) = mpsc::unbounded::<ClientMsg>();
        live.outgoing.set_value(Some(tx));
        live.status.set(Status::Connecting);
        spawn_local(async move {
            let socket = match WebSocket::open(&url) {
                Ok(socket) => socket,
                Err(e) => {
                    live.status.try_set(Status::Disconnected(e.to_string()));
                    return;
                }
            };
            let (mut write, read) = socket.split();
            let outgoing = rx
                .map(Event::Out)
                .chain(stream::once(std::future::ready(Event::Quit)));
            let incoming = read
                .map(Event::In)
                .chain(stream::once(std::future::ready(Event::Ended)));
            let mut events = stream::select(outgoing, incoming);
            let why = loop {
                match events.next().await {
                    Some(Event::Out(msg)) => {
                        let json =
                            serde_json::to_string(&msg).expect("ClientMsg always serializes");
                        if let Err(e) = write.send(Message::Text(json)).await {
                            break e.to_string();
                        }
                    }
                    Some(Event::In(Ok(Message::Text(text)))) => {
                        match serde_json::from_str::<ServerMsg>(&text) {
                            Ok(frame) => live.apply(frame),
                            Err(e) => leptos::logging::warn!("ignoring unreadable frame: {e}"),
                        }
                    }
                    Some(Event::In(Ok(Message::Bytes(_)))) => {}
                    Some(Event::In(Err(WebSocketError::ConnectionClose(close)))) => {
                        break if close.reason.is_empty() {
                            format!("connection closed (code {})", close.code)
                        } else {
                            close.reason
                        };
                    }
                    Some(Event::In(Err(e))) => break e.to_string(),
                    Some(Event::Quit) => {
                        let _ = write.close().await;
                        return;
                    }
                    Some(Event::Ended) | None => break "connection closed".to_owned(),
                }
            };
            live.status.try_set(Status::Disconnected(why));
        });
    }
}
