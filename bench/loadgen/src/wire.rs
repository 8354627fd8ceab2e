//! What goes over the wire for each protocol: logging in, opening a socket, and the frames.
//!
//! Switchboard frames are built from the shared protocol types (`app::protocol`); received
//! frames are read with a lean borrowed view, since a load generator reads hundreds of thousands
//! a second and needs only a few fields of each.

use crate::cli::Proto;
use anyhow::{bail, Context};
use app::protocol::{ClientId, ClientMsg, RoomName};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::{borrow::Cow, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{
        client::IntoClientRequest,
        http::HeaderValue,
        protocol::{CloseFrame, WebSocketConfig},
        Error as WsError, Message,
    },
    MaybeTlsStream, WebSocketStream,
};

type WebSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A client's connection: a WebSocket, or Switchboard's event stream with its posts. The methods
/// are the ones the client uses of a WebSocket, so both run the same client code.
pub enum Socket {
    Ws(Box<WebSocket>),
    Events(Box<Events>),
}

impl Socket {
    pub async fn next(&mut self) -> Option<Result<Message, WsError>> {
        match self {
            Socket::Ws(socket) => socket.next().await,
            Socket::Events(events) => events.next().await,
        }
    }

    pub async fn send(&mut self, message: Message) -> Result<(), WsError> {
        match self {
            Socket::Ws(socket) => socket.send(message).await,
            Socket::Events(events) => {
                events.feed(message);
                events.flush().await
            }
        }
    }

    /// Queues a frame; [`Socket::flush`] sends what is queued.
    pub async fn feed(&mut self, message: Message) -> Result<(), WsError> {
        match self {
            Socket::Ws(socket) => socket.feed(message).await,
            Socket::Events(events) => {
                events.feed(message);
                Ok(())
            }
        }
    }

    pub async fn flush(&mut self) -> Result<(), WsError> {
        match self {
            Socket::Ws(socket) => socket.flush().await,
            Socket::Events(events) => events.flush().await,
        }
    }

    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), WsError> {
        match self {
            Socket::Ws(socket) => WebSocketStream::close(socket, frame).await,
            // Dropping the response ends the stream.
            Socket::Events(_) => Ok(()),
        }
    }
}

/// Switchboard's event stream (`GET /sse`) and the posts of one client (see `docs/protocol.md`).
pub struct Events {
    response: reqwest::Response,
    buffered: Vec<u8>,
    http: reqwest::Client,
    /// The stream's address for posts (its first event says), absolute.
    post: String,
    origin: String,
    cookie: String,
    queued: Vec<String>,
}

impl Events {
    /// The next event on the stream, as its name ("" for a frame) and its data; `None` once the
    /// stream has ended.
    async fn event(&mut self) -> Option<Result<(String, String), WsError>> {
        loop {
            if let Some(end) = self.buffered.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffered.drain(..end + 2).collect();
                let block = String::from_utf8_lossy(&block);
                let (mut event, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        event = value.trim_start().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                return Some(Ok((event, data)));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffered.extend_from_slice(&chunk),
                Ok(None) => return None,
                Err(_) => return Some(Err(WsError::ConnectionClosed)),
            }
        }
    }

    /// The next frame: an event's data as a text message, a `close` event as a close frame.
    async fn next(&mut self) -> Option<Result<Message, WsError>> {
        loop {
            let (event, data) = match self.event().await? {
                Ok(event) => event,
                Err(error) => return Some(Err(error)),
            };
            match event.as_str() {
                "" => return Some(Ok(Message::text(data))),
                "close" => {
                    let said: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                    let code = said["code"].as_u64().and_then(|c| u16::try_from(c).ok());
                    return Some(Ok(Message::Close(code.map(|code| {
                        CloseFrame {
                            code: code.into(),
                            reason: said["reason"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned()
                                .into(),
                        }
                    }))));
                }
                _ => continue,
            }
        }
    }

    fn feed(&mut self, message: Message) {
        if let Message::Text(text) = message {
            self.queued.push(text.to_string());
        }
    }

    /// Posts what is queued, one at a time, each once the one before was accepted.
    async fn flush(&mut self) -> Result<(), WsError> {
        for frame in std::mem::take(&mut self.queued) {
            let accepted = self
                .http
                .post(&self.post)
                .header("origin", &self.origin)
                .header("cookie", &self.cookie)
                .header("content-type", "application/json")
                .body(frame)
                .send()
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::ACCEPTED);
            if !accepted {
                return Err(WsError::ConnectionClosed);
            }
        }
        Ok(())
    }
}

/// Opens an event stream and reads its first event (where to post).
async fn open_events(
    http: &reqwest::Client,
    base: &str,
    room: &str,
    cookies: &Cookies,
    after: Option<&str>,
) -> anyhow::Result<Socket> {
    let url = match after {
        Some(after) => format!("{base}/sse?room={room}&after={after}"),
        None => format!("{base}/sse?room={room}"),
    };
    let response = http
        .get(url)
        .header("origin", base)
        .header("cookie", cookies.header())
        .send()
        .await
        .context("event stream request")?;
    if !response.status().is_success() {
        bail!("event stream refused: {}", response.status());
    }
    let mut events = Events {
        response,
        buffered: Vec::new(),
        http: http.clone(),
        post: String::new(),
        origin: base.to_owned(),
        cookie: cookies.header(),
        queued: Vec::new(),
    };
    // The first event names the stream's address; read it before any frame.
    let (_, data) = events
        .event()
        .await
        .context("the stream ended before its first event")??;
    let said: serde_json::Value = serde_json::from_str(&data)?;
    let post = said["post"].as_str().context("the stream's address")?;
    events.post = format!("{base}{post}");
    Ok(Socket::Events(Box::new(events)))
}

/// How long one HTTP request or socket handshake may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A client's cookies (the session and, behind HAProxy, the affinity cookie).
#[derive(Debug, Default, Clone)]
pub struct Cookies(Vec<(String, String)>);

impl Cookies {
    fn absorb(&mut self, headers: &reqwest::header::HeaderMap) {
        for value in headers.get_all(reqwest::header::SET_COOKIE) {
            let Some((name, value)) = value
                .to_str()
                .ok()
                .and_then(|v| v.split(';').next())
                .and_then(|pair| pair.split_once('='))
            else {
                continue;
            };
            match self.0.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.to_owned(),
                None => self.0.push((name.to_owned(), value.to_owned())),
            }
        }
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// An HTTP client for logins and probes: a few pooled connections, no redirects followed (the
/// login's answer carries the cookie).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(16)
        .build()
        .expect("an HTTP client")
}

/// Logs `name` in through `POST /api/login`; returns the cookies it set.
pub async fn login(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<Cookies> {
    let response = http
        .post(format!("{base}/api/login"))
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name={name}"))
        .send()
        .await
        .context("login request")?;
    let mut cookies = Cookies::default();
    cookies.absorb(response.headers());
    if !cookies.has("JSESSIONID") {
        bail!(
            "login answered {} without a session cookie",
            response.status()
        );
    }
    Ok(cookies)
}

/// What the browser does before reconnecting: `GET /` with its cookies and the probe header
/// (which renews the session id, and the affinity cookie when a load balancer picks another
/// instance; the page itself is not rendered).
pub async fn probe(
    http: &reqwest::Client,
    base: &str,
    cookies: &mut Cookies,
) -> anyhow::Result<()> {
    let response = http
        .get(format!("{base}/"))
        .header("cookie", cookies.header())
        .header(app::protocol::PROBE_HEADER, "1")
        .send()
        .await
        .context("probe")?;
    cookies.absorb(response.headers());
    if !response.status().is_success() {
        bail!("probe answered {}", response.status());
    }
    Ok(())
}

/// Opens a socket: Switchboard's `/ws` (resuming after `after`) or Socket.IO's endpoint.
pub async fn open(
    http: &reqwest::Client,
    proto: Proto,
    base: &str,
    room: &str,
    cookies: &Cookies,
    after: Option<&str>,
) -> anyhow::Result<Socket> {
    if proto == Proto::Sse {
        return tokio::time::timeout(
            REQUEST_TIMEOUT,
            open_events(http, base, room, cookies, after),
        )
        .await
        .context("event stream timed out")?;
    }
    let authority = base.strip_prefix("http://").context("an http:// URL")?;
    let url = match proto {
        Proto::Sse => unreachable!("opened above"),
        Proto::Sb => match after {
            Some(after) => format!("ws://{authority}/ws?room={room}&after={after}"),
            None => format!("ws://{authority}/ws?room={room}"),
        },
        Proto::Sio => format!("ws://{authority}/socket.io/?EIO=4&transport=websocket"),
    };
    let mut request = url.into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("origin", HeaderValue::from_str(base)?);
    if proto == Proto::Sb {
        headers.insert("cookie", HeaderValue::from_str(&cookies.header())?);
    }
    // Small buffers: ten thousand sockets must not cost the load generator a gigabyte.
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let (socket, _) = tokio::time::timeout(REQUEST_TIMEOUT, connect)
        .await
        .context("socket handshake timed out")??;
    Ok(Socket::Ws(Box::new(socket)))
}

/// A Switchboard `send` frame.
pub fn sb_send(room: &str, text: String, client_id: ClientId) -> String {
    let room = RoomName::parse(room).expect("room names are validated at start");
    serde_json::to_string(&ClientMsg::Send {
        room,
        text,
        client_id,
        reply_to: None,
    })
    .expect("a send frame serializes")
}

/// A Socket.IO `chat` event.
pub fn sio_chat(room: &str, text: &str) -> String {
    let event = serde_json::json!(["chat", { "type": "chat", "room": room, "text": text }]);
    format!("42{event}")
}

/// A Socket.IO `join` event with ack id 0.
pub fn sio_join(room: &str) -> String {
    format!("420{}", serde_json::json!(["join", room]))
}

/// The fields of a Switchboard server frame that the load generator uses.
#[derive(Debug, Deserialize)]
pub struct SbFrame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub client_id: Option<ClientId>,
    #[serde(borrow, default)]
    pub code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub instance: Option<Cow<'a, str>>,
}

/// What a Socket.IO frame means to a client.
#[derive(Debug, PartialEq, Eq)]
pub enum SioFrame<'a> {
    /// Engine.IO open: answer with a namespace connect.
    Open,
    /// Namespace connected: join the room.
    Connected,
    /// The join was acknowledged.
    Joined,
    /// Engine.IO ping: answer with a pong.
    Ping,
    /// A chat event's text.
    Chat(Cow<'a, str>),
    Other,
}

pub fn sio_frame(frame: &str) -> SioFrame<'_> {
    #[derive(Deserialize)]
    struct Chat<'a> {
        #[serde(borrow)]
        text: Cow<'a, str>,
    }
    match frame.as_bytes() {
        [b'0', ..] => SioFrame::Open,
        [b'2'] => SioFrame::Ping,
        [b'4', b'0', ..] => SioFrame::Connected,
        [b'4', b'3', ..] => SioFrame::Joined,
        [b'4', b'2', ..] => match serde_json::from_str::<(Cow<'_, str>, Chat<'_>)>(&frame[2..]) {
            Ok((event, chat)) if event == "chat" => SioFrame::Chat(chat.text),
            _ => SioFrame::Other,
        },
        _ => SioFrame::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_io_frames_are_recognised() {
        assert_eq!(sio_frame(r#"0{"sid":"x"}"#), SioFrame::Open);
        assert_eq!(sio_frame(r#"40{"sid":"y"}"#), SioFrame::Connected);
        assert_eq!(sio_frame(r#"430[{"ok":true}]"#), SioFrame::Joined);
        assert_eq!(sio_frame("2"), SioFrame::Ping);
        assert_eq!(
            sio_frame(r#"42["chat",{"type":"chat","room":"lobby","text":"hi"}]"#),
            SioFrame::Chat("hi".into())
        );
        assert_eq!(sio_frame(r#"42["other",{"text":"hi"}]"#), SioFrame::Other);
        assert_eq!(
            sio_frame(&sio_chat("lobby", "hi")),
            SioFrame::Chat("hi".into())
        );
        assert_eq!(sio_join("lobby"), r#"420["join","lobby"]"#);
    }

    #[test]
    fn switchboard_frames_are_read_leniently() {
        let frame: SbFrame = serde_json::from_str(
            r#"{"type":"message","id":"1-0","room":"lobby","user":{"id":"00000000-0000-0000-0000-000000000000","name":"a"},"text":"t:0:0:0 x","kind":"text","at":1}"#,
        )
        .unwrap();
        assert_eq!(frame.kind, "message");
        assert_eq!(frame.id.as_deref(), Some("1-0"));
        assert_eq!(frame.text.as_deref(), Some("t:0:0:0 x"));
    }

    #[test]
    fn cookies_keep_the_latest_value_of_each() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.append(
            "set-cookie",
            "JSESSIONID=a; Path=/; HttpOnly".parse().unwrap(),
        );
        headers.append("set-cookie", "__VCAP_ID__=app-1; path=/".parse().unwrap());
        let mut cookies = Cookies::default();
        cookies.absorb(&headers);
        let mut again = reqwest::header::HeaderMap::new();
        again.append("set-cookie", "JSESSIONID=b; Path=/".parse().unwrap());
        cookies.absorb(&again);
        assert_eq!(cookies.header(), "JSESSIONID=b; __VCAP_ID__=app-1");
    }
}
