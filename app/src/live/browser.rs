//! The socket task: the browser-only I/O around the pure parts of [`super`].
//!
//! One task per page, started by [`start`], owns the WebSocket (gloo-net), the timers and the
//! clock. What to do when — how long to wait, when silence means death, which messages to
//! (re-)send — it asks [`super::reconnect`] and [`super::outbox`].

mod events;

use super::reconnect::{close_reason, Next, Reconnect, Transports, Via, Watchdog, HELLO_WITHIN_MS};
use super::state::Chat;
use super::{Control, Live, Status};
use crate::later::Unloaded;
use crate::protocol::{ClientMsg, MessageId, RoomName, ServerMsg, PROBE_HEADER, SESSION_HEADER};
use futures::{channel::mpsc, FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use gloo_timers::future::sleep;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos::wasm_split::wasm_split;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Longest single timer. `setTimeout` fires at once for delays over 2^31 ms, and gloo's `sleep`
/// panics over 2^32, so a far deadline (a server announcing a huge heartbeat) is waited for in
/// naps; waking early only re-checks the deadlines.
const MAX_NAP_MS: u64 = 60_000;

/// How long the `GET /` probe may take. A request that reached a frozen instance (or a proxy
/// waiting on one) would otherwise hang the reconnect for as long as the proxy's server timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

type Controls = mpsc::UnboundedReceiver<Control>;
type Writer = futures::stream::SplitSink<WebSocket, Message>;

/// How a connection attempt or a connection ended.
enum Outcome {
    /// The page is going away.
    Stop,
    /// Lost: why, the close code if any, how long it had been connected (0: it never said
    /// `hello`), and whether the server was heard through it at all (a `hello`, or a close
    /// frame of the server's: then the transport works, whatever went wrong).
    Lost {
        reason: String,
        code: Option<u16>,
        connected_ms: u64,
        got_through: bool,
    },
    /// On the event stream, a WebSocket tried in the background said `hello`: move back to it.
    SocketsWork,
}

/// How a connection that is lost ends, from why, the close code, and when it said `hello`.
fn lost(reason: String, code: Option<u16>, since: Option<u64>) -> Outcome {
    Outcome::Lost {
        reason,
        code,
        connected_ms: since.map_or(0, |t| now_ms().saturating_sub(t)),
        got_through: since.is_some(),
    }
}

/// The close code a browser reports for a WebSocket that closed without a close frame (never
/// opened, or cut off): the server was not heard.
const ABNORMAL_CLOSE: u16 = 1006;

pub fn start(live: Live) {
    let (tx, rx) = mpsc::unbounded();
    live.control.set_value(Some(tx));
    spawn_local(load_and_run(live, rx));
}

/// The task's code is a chunk of its own ([`crate::later`]): the page hydrates without it and
/// fetches it at once. A fetch that fails (the instance died, the network is down) is tried again
/// after the reconnect policy's wait, counted down in the banner like a lost connection.
async fn load_and_run(live: Live, mut control: Controls) {
    let mut policy = Reconnect::new();
    loop {
        match socket_task().await {
            Ok(task) => return task(live, control).await,
            Err(Unloaded) => {
                let delay_ms = policy.probe_failed(js_sys::Math::random());
                let reason = "the page's code did not load";
                if wait(live, &mut control, reason, delay_ms).await.is_err() {
                    return;
                }
            }
        }
    }
}

type Task = fn(Live, Controls) -> Pin<Box<dyn Future<Output = ()>>>;

/// The socket task's code (a split point).
#[wasm_split(socket, fallible, wasm_split_path = ::leptos::wasm_split)]
fn socket_task() -> Result<Task, Unloaded> {
    Ok(|live, control| Box::pin(run(live, control)))
}

// Now, in whole unix milliseconds: the wall clock rather than `performance.now()`, because after
// a laptop sleeps the wall clock has moved on and a dead socket's silence shows at once, while
// some browsers' `performance.now()` stands still during sleep.
use super::now_ms;

/// The session is gone: reload, and the server renders the login form.
fn show_login() {
    if let Some(window) = web_sys::window() {
        if let Err(e) = window.location().reload() {
            leptos::logging::error!("switchboard: logged out, but the page cannot reload: {e:?}");
        }
    }
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
    let mut policy = Reconnect::new();
    let mut transports = Transports::default();
    let mut first = true;
    loop {
        if !first {
            match probe().await {
                Ok(()) => {}
                Err(Probe::LoggedOut) => return show_login(),
                Err(Probe::Failed(reason)) => {
                    let delay_ms = policy.probe_failed(js_sys::Math::random());
                    if wait(live, &mut control, &reason, delay_ms).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        first = false;
        let via = transports.via();
        live.via.try_set(via);
        let outcome = match via {
            Via::Socket => connect(live, &mut control).await,
            Via::Events => events::connect(live, &mut control).await,
        };
        match outcome {
            Outcome::Stop => return,
            Outcome::SocketsWork => {
                leptos::logging::log!("switchboard: WebSockets work again; moving back to one");
                transports.sockets_work();
                live.disconnected();
            }
            Outcome::Lost {
                reason,
                code,
                connected_ms,
                got_through,
            } => {
                if transports.ended(via, got_through) != via {
                    leptos::logging::warn!(
                        "switchboard: no WebSocket gets through ({reason}); using an event stream"
                    );
                }
                if live.lost_at.get_value().is_none() {
                    live.lost_at.set_value(Some(now_ms()));
                }
                live.disconnected();
                live.status.try_set(Status::Reconnecting {
                    reason: reason.clone(),
                });
                match policy.lost(code, connected_ms, js_sys::Math::random()) {
                    Next::LogIn => return show_login(),
                    Next::Reconnect { delay_ms } => {
                        if wait(live, &mut control, &reason, delay_ms).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Waits `delay_ms`, counting down in the banner; a retry request or `online` cuts it short.
/// Err when the page stops.
async fn wait(live: Live, control: &mut Controls, reason: &str, delay_ms: u64) -> Result<(), ()> {
    let until = now_ms().saturating_add(delay_ms);
    loop {
        let left = until.saturating_sub(now_ms());
        if left == 0 {
            break;
        }
        live.status.try_set(Status::Waiting {
            reason: reason.to_owned(),
            retry_in: u32::try_from(left.div_ceil(1_000)).unwrap_or(u32::MAX),
        });
        futures::select_biased! {
            c = control.next() => match c {
                None | Some(Control::Stop) => return Err(()),
                Some(Control::RetryNow | Control::Wake) => break,
                // Stays in the outbox; sent after the reconnect.
                Some(Control::Send(_)) => {}
            },
            _ = sleep(Duration::from_millis(left.min(1_000))).fuse() => {}
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
    let request = gloo_net::http::Request::get("/")
        .header(PROBE_HEADER, "1")
        .credentials(web_sys::RequestCredentials::Include)
        .cache(web_sys::RequestCache::NoStore)
        .send()
        .fuse();
    futures::pin_mut!(request);
    let response = futures::select_biased! {
        response = request => response,
        _ = sleep(PROBE_TIMEOUT).fuse() => {
            return Err(Probe::Failed("the server did not answer".to_owned()));
        }
    }
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

/// Takes frames out of the outboxes with `take` (which returns them and changes their state),
/// telling the page only when there was something to take.
fn take_frames(live: Live, take: impl FnOnce(&mut Chat) -> Vec<ClientMsg>) -> Vec<ClientMsg> {
    live.chat
        .try_maybe_update(|chat| {
            let frames = take(chat);
            (!frames.is_empty(), frames)
        })
        .unwrap_or_default()
}

/// One connection, from opening the socket until it is lost.
async fn connect(live: Live, control: &mut Controls) -> Outcome {
    let (room, after) = live
        .chat
        .with_untracked(|chat| (chat.current().name.clone(), chat.current().last_seen()));
    let Some(url) = ws_url(&room, after) else {
        return lost("no browser location".to_owned(), None, None);
    };
    let socket = match WebSocket::open(&url) {
        Ok(socket) => socket,
        Err(e) => return lost(e.to_string(), None, None),
    };
    let (mut write, mut read) = socket.split();
    // Set by `hello`: only then is the socket ready for `send` frames.
    let mut connected_at: Option<u64> = None;
    let opened_at = now_ms();
    let mut watchdog = Watchdog::new(opened_at);
    loop {
        // Wake for whichever comes first: the silence limit, `hello`'s deadline, or (once
        // connected) the outbox's next retry.
        let hello_by = opened_at.saturating_add(HELLO_WITHIN_MS);
        let wake_at = match connected_at {
            Some(_) => connected_deadline(live, &watchdog),
            None => hello_by.min(watchdog.deadline_ms()),
        };
        let nap = nap_until(wake_at);
        let frame = futures::select_biased! {
            c = control.next() => match c {
                None | Some(Control::Stop) => {
                    // Closing a socket that is going away anyway: its errors change nothing.
                    let _ = write.close().await;
                    return Outcome::Stop;
                }
                Some(Control::RetryNow) => continue,
                Some(Control::Wake) => {
                    // Before `hello` the socket is still opening: the watchdog covers it.
                    if connected_at.is_some()
                        && watchdog.woke(now_ms())
                        && send(&mut write, &ClientMsg::Ping).await.is_err()
                    {
                        return lost("send failed".to_owned(), None, connected_at);
                    }
                    continue;
                }
                Some(Control::Send(msg)) => {
                    // Before `hello` it waits: the outbox hands messages over after `hello` or
                    // `joined`, and `hello` joins every open room.
                    if connected_at.is_some() && send(&mut write, &msg).await.is_err() {
                        return lost("send failed".to_owned(), None, connected_at);
                    }
                    continue;
                }
            },
            frame = read.next().fuse() => frame,
            _ = sleep(nap).fuse() => {
                let now = now_ms();
                if connected_at.is_none() && now >= hello_by {
                    // Opened (or so the browser says) and then nothing: a proxy that takes the
                    // upgrade and passes no frame.
                    return lost("no answer from the server".to_owned(), None, None);
                }
                if let Some(reason) = silence(&watchdog, now) {
                    let _ = write.close().await;
                    return lost(reason, None, connected_at);
                }
                if connected_at.is_some() {
                    for msg in take_frames(live, |chat| chat.due(now)) {
                        if send(&mut write, &msg).await.is_err() {
                            return lost("send failed".to_owned(), None, connected_at);
                        }
                    }
                }
                continue;
            }
        };
        let now = now_ms();
        watchdog.heard(now);
        match frame {
            Some(Ok(Message::Text(text))) => {
                for msg in on_text(live, &text, now, &mut watchdog, &mut connected_at) {
                    if send(&mut write, &msg).await.is_err() {
                        return lost("send failed".to_owned(), None, connected_at);
                    }
                }
            }
            Some(Ok(Message::Bytes(_))) => {}
            Some(Err(WebSocketError::ConnectionClose(close))) => {
                let reason = close_reason(close.code, &close.reason);
                let mut outcome = lost(reason, Some(close.code), connected_at);
                if let Outcome::Lost { got_through, .. } = &mut outcome {
                    // A close frame of the server's (a refusal to join, a drain) went through.
                    *got_through |= close.code != ABNORMAL_CLOSE;
                }
                return outcome;
            }
            Some(Err(e)) => return lost(e.to_string(), None, connected_at),
            None => return lost("connection closed".to_owned(), None, connected_at),
        }
    }
}

/// When a connected transport next has to act: the outbox's next retry, or the silence limit.
fn connected_deadline(live: Live, watchdog: &Watchdog) -> u64 {
    let silent_at = watchdog.deadline_ms();
    live.chat
        .with_untracked(Chat::next_deadline)
        .map_or(silent_at, |at| at.min(silent_at))
}

/// How long to sleep to wake at `at` (never longer than `MAX_NAP_MS`: waking early only
/// re-checks the deadlines).
fn nap_until(at: u64) -> Duration {
    Duration::from_millis(at.saturating_sub(now_ms()).min(MAX_NAP_MS))
}

/// Why a connection counts as dead at `now`, if it does: silent past its limit, or not
/// answering the check of a wake-up.
fn silence(watchdog: &Watchdog, now: u64) -> Option<String> {
    if !watchdog.is_silent(now) {
        return None;
    }
    Some(if watchdog.checking() {
        "no answer after the page woke up".to_owned()
    } else {
        "no heartbeat from the server".to_owned()
    })
}

/// One frame from the server, received at `now`, whichever the transport: applied to the page
/// (`hello` starts the connection and sets the watchdog's pace). Returns the frames to send in
/// answer.
fn on_text(
    live: Live,
    text: &str,
    now: u64,
    watchdog: &mut Watchdog,
    connected_at: &mut Option<u64>,
) -> Vec<ClientMsg> {
    let frame = match serde_json::from_str::<ServerMsg>(text) {
        Ok(frame) => frame,
        Err(e) => {
            leptos::logging::warn!("ignoring unreadable frame: {e}");
            return Vec::new();
        }
    };
    let hello = match frame {
        ServerMsg::Hello { heartbeat_ms, .. } => {
            watchdog.hello(heartbeat_ms, now);
            true
        }
        _ => false,
    };
    let replies = live.apply(frame, now);
    if hello {
        *connected_at = Some(now);
        if let Some(lost_at) = live.lost_at.get_value() {
            leptos::logging::log!(
                "switchboard: reconnected to {} {} ms after the connection was lost",
                live.instance.get_untracked().unwrap_or_default(),
                now.saturating_sub(lost_at)
            );
            live.lost_at.set_value(None);
        }
    }
    replies
}

async fn send(write: &mut Writer, msg: &ClientMsg) -> Result<(), WebSocketError> {
    let json = serde_json::to_string(msg).expect("ClientMsg always serializes");
    write.send(Message::Text(json)).await
}
