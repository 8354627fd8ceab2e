//! What can go wrong with a server function call itself, before the function runs: arguments
//! that cannot be read, or a body over the limit. Every server function's error type takes
//! these the same way, with the same status codes.

use leptos::server_fn::error::ServerFnErrorErr;

/// A call that failed on its way to or from the function.
pub enum CallFailure {
    /// The server could not read the call's arguments (`400`, never a `500`).
    BadRequest(String),
    /// A body beyond the server's limit for a call (`413`).
    TooLarge,
    /// Anything else: the browser could not reach the server, or read its answer.
    Transport(String),
}

/// Sorts a server function error, setting the response's status on the server.
pub fn classify(value: ServerFnErrorErr) -> CallFailure {
    match value {
        // On the server, these are about the request: the client sent what cannot be read.
        #[cfg(feature = "ssr")]
        ServerFnErrorErr::Args(why) | ServerFnErrorErr::MissingArg(why) => {
            status(http::StatusCode::BAD_REQUEST);
            CallFailure::BadRequest(why)
        }
        // Reading the body failed: the body limit, or a broken upload.
        #[cfg(feature = "ssr")]
        ServerFnErrorErr::Deserialization(why) => {
            if why.contains("length limit exceeded") {
                status(http::StatusCode::PAYLOAD_TOO_LARGE);
                CallFailure::TooLarge
            } else {
                status(http::StatusCode::BAD_REQUEST);
                CallFailure::BadRequest(why)
            }
        }
        other => CallFailure::Transport(other.to_string()),
    }
}

/// Sets the status of the response being made (on the server).
#[cfg(feature = "ssr")]
pub fn status(code: http::StatusCode) {
    if let Some(res) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(code);
    }
}
