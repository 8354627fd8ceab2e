//! The connection over the second transport, for networks that block WebSockets: the server's
//! frames from an `EventSource` on `/sse`, the page's frames as posts, one at a time, to the
//! address the stream's first event names (see `docs/protocol.md`). The same frames and rules as
//! the socket's loop in [`super`]; meanwhile a WebSocket is tried in the background every
//! [`SOCKET_RETRY_MS`], and the page moves back to one as soon as one says `hello`.
//!
//! The `EventSource` reconnects by itself after a dropped stream, sending the last message id it
//! read (`Last-Event-ID`), and the server resumes there: a new `stream` event then starts a new
//! connection, whose `hello` rejoins the other rooms and re-sends the outbox, as after a
//! reconnected socket. When it gives up (a refusal), or stays silent, the page's own reconnect
//! loop takes over.

use super::{
    connected_deadline, lost, nap_until, now_ms, on_text, silence, sleep, take_frames, ws_url,
    Controls, Outcome,
};
use crate::live::reconnect::{close_reason, Watchdog, HELLO_WITHIN_MS, SOCKET_RETRY_MS};
use crate::live::{Control, Live};
use crate::protocol::{ClientMsg, RoomName, ServerMsg};
use futures::future::{Fuse, FusedFuture, LocalBoxFuture};
use futures::{FutureExt, StreamExt};
use gloo_net::eventsource::futures::EventSource;
use gloo_net::websocket::{futures::WebSocket, Message};
use leptos::prelude::*;
use std::time::Duration;

/// One connection over an event stream, from opening it until it is lost.
pub(super) async fn connect(live: Live, control: &mut Controls) -> Outcome {
    let (room, after) = live
        .chat
        .with_untracked(|chat| (chat.current().name.clone(), chat.current().last_seen()));
    let url = match after {
        Some(after) => format!("/sse?room={room}&after={after}"),
        None => format!("/sse?room={room}"),
    };
    let mut source = match EventSource::new(&url) {
        Ok(source) => source,
        Err(e) => return lost(e.to_string(), None, None),
    };
    let (Ok(frames), Ok(streams), Ok(closes)) = (
        source.subscribe("message"),
        source.subscribe("stream"),
        source.subscribe("close"),
    ) else {
        return lost(
            "the browser would not read an event stream".to_owned(),
            None,
            None,
        );
    };
    let mut events = futures::stream::select(frames, futures::stream::select(streams, closes));
    // Where this stream's frames are posted (its first event says).
    let mut post: Option<String> = None;
    let mut connected_at: Option<u64> = None;
    let mut watchdog = Watchdog::new(now_ms());
    let mut trial_at = now_ms().saturating_add(SOCKET_RETRY_MS);
    let mut trial: Fuse<LocalBoxFuture<'static, bool>> = Fuse::terminated();
    loop {
        let mut wake_at = match connected_at {
            Some(_) => connected_deadline(live, &watchdog),
            None => watchdog.deadline_ms(),
        };
        if trial.is_terminated() {
            wake_at = wake_at.min(trial_at);
        }
        let nap = nap_until(wake_at);
        let event = futures::select_biased! {
            c = control.next() => {
                let frame = match c {
                    None | Some(Control::Stop) => return Outcome::Stop,
                    Some(Control::RetryNow) => continue,
                    Some(Control::Wake) => {
                        if connected_at.is_none() || !watchdog.woke(now_ms()) {
                            continue;
                        }
                        ClientMsg::Ping
                    }
                    Some(Control::Send(msg)) => msg,
                };
                // Before `hello` it waits: the outbox hands messages over after `hello`.
                if connected_at.is_some() {
                    if let Err(why) = send(post.as_deref(), &frame).await {
                        return lost(why, None, connected_at);
                    }
                }
                continue;
            },
            worked = trial => {
                if worked {
                    return Outcome::SocketsWork;
                }
                trial_at = now_ms().saturating_add(SOCKET_RETRY_MS);
                continue;
            },
            event = events.next().fuse() => event,
            _ = sleep(nap).fuse() => {
                let now = now_ms();
                if let Some(reason) = silence(&watchdog, now) {
                    return lost(reason, None, connected_at);
                }
                if connected_at.is_some() {
                    for msg in take_frames(live, |chat| chat.due(now)) {
                        if let Err(why) = send(post.as_deref(), &msg).await {
                            return lost(why, None, connected_at);
                        }
                    }
                }
                if trial.is_terminated() && now >= trial_at {
                    trial = socket_works(room.clone()).fuse();
                }
                continue;
            }
        };
        let now = now_ms();
        let Some(Ok((kind, event))) = event else {
            return lost("the event stream failed".to_owned(), None, connected_at);
        };
        watchdog.heard(now);
        let data = event.data().as_string().unwrap_or_default();
        match kind.as_str() {
            "stream" => {
                post = serde_json::from_str::<serde_json::Value>(&data)
                    .ok()
                    .and_then(|said| said["post"].as_str().map(str::to_owned));
                // The browser reopened a dropped stream by itself: a new connection, whose
                // `hello` rejoins the rooms and re-sends what is unanswered.
                if connected_at.take().is_some() {
                    live.disconnected();
                }
            }
            "close" => {
                let said = serde_json::from_str::<serde_json::Value>(&data).unwrap_or_default();
                let code = said["code"].as_u64().and_then(|c| u16::try_from(c).ok());
                let reason = said["reason"].as_str().unwrap_or_default();
                let why = code.map_or_else(
                    || "the event stream ended".to_owned(),
                    |code| close_reason(code, reason),
                );
                return lost(why, code, connected_at);
            }
            _ => {
                for msg in on_text(live, &data, now, &mut watchdog, &mut connected_at) {
                    if let Err(why) = send(post.as_deref(), &msg).await {
                        return lost(why, None, connected_at);
                    }
                }
            }
        }
    }
}

/// Posts one frame to the stream, and waits for it to be accepted: the next goes only then, so
/// the frames reach the stream in order.
async fn send(post: Option<&str>, frame: &ClientMsg) -> Result<(), String> {
    let post = post.ok_or("the event stream named no address to post to")?;
    let json = serde_json::to_string(frame).expect("ClientMsg always serializes");
    let response = gloo_net::http::Request::post(post)
        .header("content-type", "application/json")
        .body(json)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| format!("a post failed: {e}"))?;
    match response.status() {
        202 => Ok(()),
        status => Err(format!("a post was refused ({status})")),
    }
}

/// Whether a WebSocket gets through now: one opened on the side says `hello` within
/// [`HELLO_WITHIN_MS`]. It is closed either way.
fn socket_works(room: RoomName) -> LocalBoxFuture<'static, bool> {
    async move {
        let Some(url) = ws_url(&room, None) else {
            return false;
        };
        let Ok(socket) = WebSocket::open(&url) else {
            return false;
        };
        let (_write, mut read) = socket.split();
        let hello = async {
            while let Some(Ok(Message::Text(text))) = read.next().await {
                if let Ok(ServerMsg::Hello { .. }) = serde_json::from_str::<ServerMsg>(&text) {
                    return true;
                }
            }
            false
        };
        futures::select_biased! {
            works = hello.fuse() => works,
            _ = sleep(Duration::from_millis(HELLO_WITHIN_MS)).fuse() => false,
        }
    }
    .boxed_local()
}
