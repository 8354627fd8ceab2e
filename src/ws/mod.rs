//! `GET /ws`: checks who is asking before upgrading, then hands the socket to a [`Connection`].
//!
//! A socket's modules: [`connection`] (its loop), [`commands`] (what the client asks),
//! [`catch_up`] (history before live messages), [`rooms`] (the rooms it is in), [`transport`]
//! (frames in and out, decoded), [`socket`] (the handshake and the fragmenting writer).
//!
//! The user comes from the session cookie, never from the client. Without a logged-in session
//! the answer is `401` and no upgrade happens. A cross-site page cannot open a socket with the
//! user's cookie: the `Origin` must be the page's own or one of `ALLOWED_ORIGINS`.

mod catch_up;
mod commands;
mod connection;
mod rooms;
mod socket;
#[cfg(test)]
mod tests;
mod transport;

pub use catch_up::HISTORY_ON_JOIN;
pub use transport::Transport;

use crate::{
    admission::{Refusal, Ticket},
    state::AppState,
};
use app::protocol::{MessageId, RoomName};
use app::session::SignIn;
use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use socket::{NotUpgrade, Upgrade};
use tower_sessions::Session;
use tungstenite::protocol::WebSocketConfig;

/// Largest frame the WebSocket layer accepts at all. Frames between
/// [`app::protocol::MAX_FRAME_BYTES`] and this get a `too_large` error and the socket stays open;
/// beyond it the socket is closed with a 1009 close frame.
pub const HARD_FRAME_LIMIT: usize = 256 * 1024;
/// Read buffer of a socket, and the most read with one system call. A chat client's frames are a
/// few hundred bytes; a larger frame grows the buffer for as long as it takes to read it.
const READ_BUFFER: usize = 512;
/// Outgoing bytes the WebSocket layer queues before writing: none. Every frame goes straight to
/// the connection's coalescing writer (`listener::Coalesced`), which sends a burst with one
/// system call on `flush` and frees its buffer afterwards; tungstenite's own buffer would keep
/// its largest burst's capacity for the life of the socket (and holds one frame at most, of at
/// most [`socket::FRAGMENT`] bytes).
const WRITE_BUFFER: usize = 0;

#[tracing::instrument(name = "ws_upgrade", skip_all)]
pub async fn upgrade(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<Upgrade, NotUpgrade>,
) -> Response {
    let connection = match admit(&state, &session, &headers, query.as_deref(), None).await {
        Ok(connection) => connection,
        Err(refused) => return refused.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    // Sized for chat, not bulk transfer: tungstenite's defaults reserve 128 KiB per socket for
    // reading.
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(Some(HARD_FRAME_LIMIT))
        .max_frame_size(Some(HARD_FRAME_LIMIT));
    upgrade.on_upgrade(config, &state.sockets, move |socket| connection.run(socket))
}

/// Why a live connection was not let in: the status and the words of the answer.
#[derive(Debug)]
pub struct Refused(StatusCode, std::borrow::Cow<'static, str>);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

/// Lets a live connection (a socket, or an event stream) in for the session's user, to the room
/// its `query` names (`room=…&after=…`; `resume`, when given, is where to resume instead of
/// `after`): refused while draining, without a signed-in session or with an ended one, from a
/// foreign origin, for a query that names no room, and over the connection caps. The refusal is
/// the answer to give.
pub async fn admit(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    query: Option<&str>,
    resume: Option<MessageId>,
) -> Result<Connection, Refused> {
    let refuse = |status: StatusCode, why: &'static str| Err(Refused(status, why.into()));
    if state.shutdown.is_cancelled() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "this instance is shutting down",
        );
    }
    let sign_in = match app::session::sign_in(session).await {
        Ok(Some(sign_in)) => sign_in,
        Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "log in first"),
        Err(e) => {
            tracing::warn!(error = %e, "session store failed");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "sessions are unavailable");
        }
    };
    // An account's session outlives a changed password elsewhere (only the sign-out's own
    // session is deleted); the revocation it left behind is what refuses it.
    match state.sign_ins.is_ended(&sign_in).await {
        Ok(false) => {}
        Ok(true) => return refuse(StatusCode::UNAUTHORIZED, "signed out; sign in again"),
        // `is_ended` logged why.
        Err(_) => return refuse(StatusCode::SERVICE_UNAVAILABLE, "sessions are unavailable"),
    }
    if !state.settings.origins.allow(headers) {
        return refuse(StatusCode::FORBIDDEN, "this origin may not open a socket");
    }
    let (room, after) = match app::protocol::parse_socket_query(query.unwrap_or_default()) {
        Ok(asked) => asked,
        Err(why) => return Err(Refused(StatusCode::BAD_REQUEST, why.into())),
    };
    let after = resume.or(after);
    let limits = state.settings.limits;
    let ticket =
        match state
            .admission
            .admit(sign_in.user.id, limits.sockets_per_user, limits.sockets)
        {
            Ok(ticket) => ticket,
            Err(Refusal::UserCap) => {
                state.metrics.sockets_refused_user_cap.inc();
                let why = format!(
                    "you have {} connections open here already; close some tabs",
                    limits.sockets_per_user
                );
                return Err(Refused(StatusCode::TOO_MANY_REQUESTS, why.into()));
            }
            Err(Refusal::Full) => {
                state.metrics.sockets_refused_full.inc();
                tracing::warn!(cap = limits.sockets, "instance full: refusing a socket");
                return refuse(StatusCode::SERVICE_UNAVAILABLE, "this instance is full");
            }
        };
    Ok(Connection::new(state.clone(), sign_in, room, after, ticket))
}

/// One socket: who it serves, the room its URL named, and its place under the caps. Its life is
/// the loop in [`connection`]; each command it takes is a file of [`commands`].
pub struct Connection {
    state: AppState,
    /// Who it serves, and under which sign-in (a sign-out there closes it).
    sign_in: SignIn,
    /// The room the URL named: joined before anything else, announced in `hello`.
    room: RoomName,
    /// Set when the client is resuming that room: the last id it has.
    after: Option<MessageId>,
    /// Its place under the socket caps, given back when the connection ends.
    _ticket: Ticket,
}

impl Connection {
    /// Whom it serves.
    pub fn user_id(&self) -> app::protocol::UserId {
        self.sign_in.user.id
    }

    /// The room it opens on.
    pub fn room(&self) -> &RoomName {
        &self.room
    }

    pub fn new(
        state: AppState,
        sign_in: SignIn,
        room: RoomName,
        after: Option<MessageId>,
        ticket: Ticket,
    ) -> Self {
        Self {
            state,
            sign_in,
            room,
            after,
            _ticket: ticket,
        }
    }
}
