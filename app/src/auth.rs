//! Who is logged in: the `login`, `logout` and `whoami` server functions.
//!
//! The functions are thin: they validate input and call [`crate::session`] (server-only), which owns
//! how a user is kept in the session. The `/ws` handler reads the user through the same module.
//! What the server does around them is in plain sight here, through the [`ssr::Doorman`] the
//! server provides: a login is limited per client address, and a logout reaches the user's
//! sockets on every instance.

use crate::calls::CallError;
use crate::protocol::{NameError, User};
use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What the page needs to know about the request: the user, if any, and which instance served it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user: Option<User>,
    pub instance: String,
}

/// Why login, logout or a session look-up failed. Each message is written for the user. On the
/// wire: `{"error":"invalid_name","reason":"too_long"}`, `{"error":"unavailable"}`,
/// `{"error":"bad_request","reason":"missing field `name`"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", content = "reason", rename_all = "snake_case")]
pub enum AuthError {
    #[error("{0}")]
    InvalidName(NameError),
    #[error("Sessions are unavailable right now. Please try again in a moment.")]
    Unavailable,
    /// The server could not read the call's arguments (a body that is not the form it expects):
    /// `400`, never a `500`.
    #[error("The request was not understood: {0}")]
    BadRequest(String),
    /// Too many logins from this address (`429`): try again in this many seconds.
    #[error("Too many logins from your address. Please try again in {0} s.")]
    RateLimited(u64),
    /// A body beyond the server's limit for a call (`413`).
    #[error("The request is too large.")]
    TooLarge,
    #[error("Something went wrong talking to the server: {0}")]
    Transport(String),
}

impl FromServerFnError for AuthError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        CallError::from_server_fn_error(value).into()
    }
}

impl From<CallError> for AuthError {
    fn from(failure: CallError) -> Self {
        match failure {
            CallError::Unavailable => Self::Unavailable,
            CallError::BadRequest(why) => Self::BadRequest(why),
            CallError::TooLarge => Self::TooLarge,
            CallError::Transport(why) => Self::Transport(why),
        }
    }
}

/// The query parameter that carries a login error back to the page after a plain form post.
pub const LOGIN_ERROR_PARAM: &str = "login_error";

/// The current user (restored from the session cookie) and the serving instance.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Viewer, AuthError> {
    let session = ssr::session().await?;
    let user = crate::session::user(&session)
        .await
        .map_err(ssr::unavailable)?;
    Ok(Viewer {
        user,
        instance: ssr::instance(),
    })
}

/// Logs in under `name`, unless this address tried too often (`429`, with `Retry-After`). The
/// session id is cycled so a cookie planted before login is worthless.
#[server(endpoint = "login")]
pub async fn login(name: String) -> Result<User, AuthError> {
    ssr::admit_login().await?;
    let name = crate::protocol::UserName::parse(&name).map_err(ssr::invalid_name)?;
    let session = ssr::session().await?;
    crate::session::log_in(&session, name)
        .await
        .map_err(ssr::unavailable)
}

/// Logs out: the session is deleted on the server, not only forgotten by the browser, and every
/// instance is told, so the user's open sockets close (4401) wherever they are.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AuthError> {
    let session = ssr::session().await?;
    let user = crate::session::user(&session)
        .await
        .map_err(ssr::unavailable)?;
    crate::session::log_out(&session)
        .await
        .map_err(ssr::unavailable)?;
    if let Some(user) = user {
        ssr::doorman().logged_out(user.id).await;
    }
    Ok(())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::AuthError;
    use crate::calls::status;
    use crate::protocol::{NameError, UserId};
    use http::{request::Parts, HeaderValue, StatusCode};
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;
    use std::sync::Arc;
    use tower_sessions::Session;

    pub use crate::calls::Pending;

    /// What the server does around logins and logouts (it provides one as context).
    pub trait Doorman: Send + Sync + 'static {
        /// Whether the client that sent `request` may try to log in now; `Err(seconds)` until it
        /// may try again.
        fn admit_login<'a>(&'a self, request: &'a Parts) -> Pending<'a, Result<(), u64>>;

        /// `user` logged out: every instance is told, and their sockets close.
        fn logged_out(&self, user: UserId) -> Pending<'_, ()>;
    }

    /// The server's [`Doorman`], as context.
    #[derive(Clone)]
    pub struct Doors(pub Arc<dyn Doorman>);

    pub fn doorman() -> Arc<dyn Doorman> {
        expect_context::<Doors>().0
    }

    /// Refuses a login from an address over its limit: `429` with `Retry-After`.
    pub async fn admit_login() -> Result<(), AuthError> {
        let Some(parts) = use_context::<Parts>() else {
            return Ok(());
        };
        match doorman().admit_login(&parts).await {
            Ok(()) => Ok(()),
            Err(secs) => {
                if let Some(res) = use_context::<ResponseOptions>() {
                    res.set_status(StatusCode::TOO_MANY_REQUESTS);
                    res.insert_header(http::header::RETRY_AFTER, HeaderValue::from(secs));
                }
                Err(AuthError::RateLimited(secs))
            }
        }
    }

    /// Which instance this server is, provided by the server as context for server fns and SSR.
    #[derive(Debug, Clone)]
    pub struct InstanceName(pub String);

    pub fn instance() -> String {
        use_context::<InstanceName>()
            .map(|i| i.0)
            .unwrap_or_else(|| "unknown".to_owned())
    }

    pub async fn session() -> Result<Session, AuthError> {
        leptos_axum::extract::<Session>().await.map_err(|e| {
            tracing::error!(error = %e, "no session layer around a server fn");
            unavailable(e)
        })
    }

    /// A refused name: `400` for API clients; for a plain form post (the page before its WASM
    /// loaded, or without JavaScript) a redirect back to `/?login_error=<reason>`, which the login
    /// page shows. Either way the user reads the same message.
    pub fn invalid_name(reason: NameError) -> AuthError {
        let plain_form_post = use_context::<http::request::Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
        });
        if plain_form_post {
            let code = serde_json::to_value(&reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            leptos_axum::redirect(&format!("/?{}={code}", crate::auth::LOGIN_ERROR_PARAM));
        } else {
            status(StatusCode::BAD_REQUEST);
        }
        AuthError::InvalidName(reason)
    }

    pub fn unavailable(err: impl std::fmt::Display) -> AuthError {
        tracing::warn!(error = %err, "session store failed");
        status(StatusCode::SERVICE_UNAVAILABLE);
        AuthError::Unavailable
    }
}

#[cfg(feature = "ssr")]
pub use ssr::{Doors, InstanceName};
