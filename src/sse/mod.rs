//! The second transport, for networks that block WebSockets (some corporate and
//! TLS-inspecting proxies): the server's frames as Server-Sent Events on `GET /sse`, the
//! client's frames as `POST /sse/<stream id>`.
//!
//! A stream is the same [`Connection`](crate::ws::Connection) a socket is — the same checks
//! before it opens, the same rooms, catch-up, presence, typing, limits, heartbeats, drain and
//! sign-out — over an [`EventStream`] instead of a WebSocket. Every frame the socket would send
//! is one event whose data is that frame's JSON; a message of the room the stream opened on
//! carries its id as the event's `id`, so a client reconnecting with `Last-Event-ID` resumes that
//! room exactly. The first event (`stream`) says where to post; a close frame becomes a `close`
//! event with its code and reason, and the stream ends.
//!
//! A post may reach any instance: the stream's id names the instance holding it
//! ([`crate::streams`]), and the frame is passed there through that instance's inbox. It is
//! answered `202` once passed on; the frame's own answer (an `ack`, an `error`) comes on the
//! stream, as on a socket. A client posts its frames one at a time, each once the one before is
//! accepted, and they reach the stream in that order.

mod transport;

use crate::{state::AppState, streams::StreamId, ws};
use app::protocol::{MessageId, RoomName};
use axum::{
    body::Bytes,
    extract::{ws::Message, Path, RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{
        sse::{Event, Sse},
        IntoResponse, Response,
    },
};
use futures_util::{stream, Stream, StreamExt};
use std::convert::Infallible;
use tokio::sync::mpsc;
use tower_sessions::Session;
use transport::EventStream;

/// Events a stream's connection may get ahead of the client reading them; past this its
/// writes wait, and a client that reads nothing for the send timeout is dropped, as on a socket.
const EVENTS: usize = 16;

/// The header a reconnecting `EventSource` sends: the id of the last event it read.
const LAST_EVENT_ID: &str = "last-event-id";

/// `GET /sse?room=…[&after=…]`: opens a stream, as `/ws` opens a socket.
#[tracing::instrument(name = "sse_open", skip_all)]
pub async fn open(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let resume = headers
        .get(LAST_EVENT_ID)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<MessageId>().ok());
    let connection = match ws::admit(&state, &session, &headers, query.as_deref(), resume).await {
        Ok(connection) => connection,
        Err(refused) => return refused.into_response(),
    };
    let room = connection.room().clone();
    let (registration, posted) = state.streams.open(connection.user_id());
    let post = format!("/sse/{}", registration.id());
    let (events, written) = mpsc::channel(EVENTS);
    state
        .sockets
        .spawn(connection.run(EventStream::new(registration, posted, events)));
    let first = Event::default()
        .event("stream")
        .data(serde_json::json!({ "post": post }).to_string());
    let body = stream::once(async move { Ok(first) }).chain(events_of(written, room));
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            // Proxies that buffer responses (nginx) would hold the events back.
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Sse::new(body),
    )
        .into_response()
}

/// The connection's frames as events, until it ends.
fn events_of(
    written: mpsc::Receiver<Message>,
    room: RoomName,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (written, room, false),
        |(mut written, room, closed)| async move {
            if closed {
                return None;
            }
            loop {
                let (event, last) = match written.recv().await? {
                    Message::Text(frame) => {
                        let event = Event::default();
                        let event = match id_in(&frame, &room) {
                            Some(id) => event.id(id.to_string()),
                            None => event,
                        };
                        (event.data(frame.as_str()), false)
                    }
                    Message::Close(frame) => {
                        let (code, reason) =
                            frame.map_or((1000, String::new()), |f| (f.code, f.reason.to_string()));
                        let data = serde_json::json!({ "code": code, "reason": reason });
                        (Event::default().event("close").data(data.to_string()), true)
                    }
                    Message::Binary(_) | Message::Ping(_) | Message::Pong(_) => continue,
                };
                return Some((Ok(event), (written, room, last)));
            }
        },
    )
}

/// The id of a `message` frame of `room`, which a reconnecting client resumes after.
fn id_in(frame: &str, room: &RoomName) -> Option<MessageId> {
    #[derive(serde::Deserialize)]
    struct Tagged {
        room: RoomName,
        id: MessageId,
    }
    if !frame.starts_with(r#"{"type":"message","#) {
        return None;
    }
    let tagged: Tagged = serde_json::from_str(frame).ok()?;
    (tagged.room == *room).then_some(tagged.id)
}

/// `POST /sse/<stream id>`: one frame from the client of a stream, for its connection.
#[tracing::instrument(name = "sse_post", skip_all)]
pub async fn post(
    State(state): State<AppState>,
    session: Session,
    Path(stream): Path<String>,
    body: Bytes,
) -> Response {
    let Some(stream) = StreamId::parse(&stream) else {
        return (StatusCode::NOT_FOUND, "no such stream").into_response();
    };
    let user = match app::session::sign_in(&session).await {
        Ok(Some(sign_in)) => sign_in.user.id,
        Ok(None) => return (StatusCode::UNAUTHORIZED, "log in first").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "session store failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "sessions are unavailable").into_response();
        }
    };
    // The body limit (`http::BODY_LIMIT`) bounds a post; a frame over the protocol's limit
    // within it is the connection's to refuse, with an `error` naming the message, as on a
    // socket.
    let Ok(frame) = String::from_utf8(body.to_vec()) else {
        return (StatusCode::BAD_REQUEST, "a frame is UTF-8 JSON text").into_response();
    };
    // A stream of this instance that is not open (or not the poster's) is told at once; one
    // of another instance, there.
    if state.streams.is_here(&stream) && !state.streams.serves(&stream, user) {
        return gone();
    }
    // Through the holding instance's inbox even when that is this one: one path keeps the
    // frames in the order they were posted (a client posts the next once this one is
    // accepted), where a shortcut for local posts could overtake one still on its way through
    // Redis.
    match state
        .signals
        .post(stream.inbox(), stream.as_str(), user, &frame)
        .await
    {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "could not pass a posted frame on");
            (StatusCode::SERVICE_UNAVAILABLE, "try again shortly").into_response()
        }
    }
}

/// A stream that is not (or no longer) open answers alike for everyone, so an id tells nobody
/// whether someone else's stream exists.
fn gone() -> Response {
    (StatusCode::NOT_FOUND, "no such stream: open a new one").into_response()
}
