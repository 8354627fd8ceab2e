//! What can go wrong with a server function call that is not the function's own answer: the
//! store behind it is down, the arguments cannot be read, the body is over the limit, or the
//! browser could not reach the server. Every server function's error takes these the same way,
//! with the same status codes.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A call that failed around the function. On the wire: `{"error":"unavailable"}`,
/// `{"error":"bad_request","reason":"missing field `room`"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", content = "reason", rename_all = "snake_case")]
pub enum CallError {
    /// The store behind the function (sessions, history) is unavailable (`503`).
    #[error("This is unavailable right now. Please try again in a moment.")]
    Unavailable,
    /// The server could not read the call's arguments (`400`, never a `500`).
    #[error("The request was not understood: {0}")]
    BadRequest(String),
    /// A body beyond the server's limit for a call (`413`).
    #[error("The request is too large.")]
    TooLarge,
    /// The browser could not reach the server, or read its answer.
    #[error("Something went wrong talking to the server: {0}")]
    Transport(String),
}

impl FromServerFnError for CallError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // On the server, these are about the request: the client sent what cannot be read.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Args(why) | ServerFnErrorErr::MissingArg(why) => {
                status(http::StatusCode::BAD_REQUEST);
                Self::BadRequest(why)
            }
            // Reading the body failed: the body limit, or a broken upload.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(why) => {
                if why.contains("length limit exceeded") {
                    status(http::StatusCode::PAYLOAD_TOO_LARGE);
                    Self::TooLarge
                } else {
                    status(http::StatusCode::BAD_REQUEST);
                    Self::BadRequest(why)
                }
            }
            other => Self::Transport(other.to_string()),
        }
    }
}

/// A future that a service the server provides to server functions returns (on the server).
#[cfg(feature = "ssr")]
pub type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Sets the status of the response being made (on the server).
#[cfg(feature = "ssr")]
pub fn status(code: http::StatusCode) {
    if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(code);
    }
}
