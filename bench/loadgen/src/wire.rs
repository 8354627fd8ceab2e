//! What goes over the wire for each protocol: logging in, opening a socket, and the frames.
//!
//! Switchboard frames are built from the shared protocol types (`app::protocol`); received
//! frames are read with a lean borrowed view, since a load generator reads hundreds of thousands
//! a second and needs only a few fields of each.

use crate::cli::Proto;
use anyhow::{bail, Context};
use app::protocol::{ClientId, ClientMsg, RoomName};
use serde::Deserialize;
use std::{borrow::Cow, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig},
    MaybeTlsStream, WebSocketStream,
};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

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
    proto: Proto,
    base: &str,
    room: &str,
    cookies: &Cookies,
    after: Option<&str>,
) -> anyhow::Result<Socket> {
    let authority = base.strip_prefix("http://").context("an http:// URL")?;
    let url = match proto {
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
    Ok(socket)
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
