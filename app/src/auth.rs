//! Who is signed in: the `sign_up`, `sign_in`, `login` (as a guest), `logout`, `change_password`,
//! `delete_account` and `whoami` server functions.
//!
//! The functions are thin: they read the session through [`crate::session`] (server-only), and
//! everything else goes through the [`ssr::Doorman`] the server provides, in plain sight: the
//! accounts, the limits per address and per account, and the sign-outs that reach sockets on
//! every instance. A sign-in of any kind cycles the session id first.

use crate::calls::CallError;
use crate::protocol::{HandleError, NameError, PasswordError, RoomName, User};
use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What the page needs to know about the request: the user, if any, the rooms they have open
/// (see [`crate::rooms`]), how one may come in here, and which instance served it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user: Option<User>,
    #[serde(default)]
    pub rooms: Vec<RoomName>,
    /// Whether a name alone lets someone in, as a guest.
    #[serde(default)]
    pub guests: bool,
    /// The OpenID provider one may sign in with (its name, for the button).
    #[serde(default)]
    pub sso: Option<String>,
    /// A single sign-on that needs a handle before it can create the account (the provider's
    /// username was taken): the username it offered.
    #[serde(default)]
    pub choosing_handle: Option<String>,
    pub instance: String,
}

/// Why a sign-in, a sign-up or a session look-up failed. Each message is written for the user.
/// On the wire: `{"error":"invalid_name","reason":"too_long"}`, `{"error":"handle_taken"}`,
/// `{"error":"bad_request","reason":"missing field `name`"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", content = "reason", rename_all = "snake_case")]
pub enum AuthError {
    /// `400`.
    #[error("{0}")]
    InvalidName(NameError),
    /// `400`.
    #[error("{0}")]
    InvalidHandle(HandleError),
    /// `400`.
    #[error("{0}")]
    WeakPassword(PasswordError),
    /// Another account has this handle, or one that looks the same (`409`).
    #[error("That handle is taken. Please choose another.")]
    HandleTaken,
    /// The same answer for a handle with no account and for a wrong password (`401`).
    #[error("That handle and password do not match an account.")]
    WrongCredentials,
    /// The call needs a signed-in account (`401`).
    #[error("Please sign in first.")]
    NotSignedIn,
    /// Guest access is off on this server (`403`).
    #[error("This server has no guest access. Please sign in or create an account.")]
    GuestsOff,
    /// A guest's name that is an account's handle, or looks like one (`409`).
    #[error("That name belongs to an account. Sign in, or join under another name.")]
    NameIsAHandle,
    #[error("Sessions are unavailable right now. Please try again in a moment.")]
    Unavailable,
    /// The server could not read the call's arguments (a body that is not the form it expects):
    /// `400`, never a `500`.
    #[error("The request was not understood: {0}")]
    BadRequest(String),
    /// Too many attempts from this address, or at this account (`429`): try again in this many
    /// seconds.
    #[error("Too many attempts. Please try again in {0} s.")]
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

impl AuthError {
    /// The error a plain form post carried back in the page's address (see
    /// [`ssr::refuse`]), if it is one.
    pub fn from_query(code: &str) -> Option<Self> {
        serde_json::from_str(code).ok()
    }
}

/// The query parameter that carries a sign-in error back to the page after a plain form post.
pub const AUTH_ERROR_PARAM: &str = "auth_error";

/// The current user (restored from the session cookie) and the serving instance.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Viewer, AuthError> {
    let user = ssr::signed_in().await?.map(|sign_in| sign_in.user);
    let rooms = match &user {
        Some(user) => crate::rooms::ssr::of(user.id).await,
        None => Vec::new(),
    };
    let doorman = ssr::doorman();
    let choosing_handle = match user {
        Some(_) => None,
        None => doorman.choosing_handle(ssr::session().await?).await,
    };
    Ok(Viewer {
        user,
        rooms,
        guests: doorman.guests(),
        sso: doorman.sso(),
        choosing_handle,
        instance: ssr::instance(),
    })
}

/// Finishes a first single sign-on whose username was taken, under the handle the person chose.
#[server(endpoint = "sso_handle")]
pub async fn sso_handle(handle: String) -> Result<User, AuthError> {
    let session = ssr::session().await?;
    let user = ssr::doorman()
        .sso_handle(session, handle)
        .await
        .map_err(ssr::refuse)?;
    ssr::begin(user).await
}

/// Creates an account and signs it in. `name` is the display name (the handle when empty).
#[server(endpoint = "sign_up")]
pub async fn sign_up(handle: String, name: String, password: String) -> Result<User, AuthError> {
    let parts = ssr::request();
    let user = ssr::doorman()
        .sign_up(&parts, handle, name, password)
        .await
        .map_err(ssr::refuse)?;
    ssr::begin(user).await
}

/// Signs in with a handle and password.
#[server(endpoint = "sign_in")]
pub async fn sign_in(handle: String, password: String) -> Result<User, AuthError> {
    let parts = ssr::request();
    let user = ssr::doorman()
        .sign_in(&parts, handle, password)
        .await
        .map_err(ssr::refuse)?;
    ssr::begin(user).await
}

/// Comes in as a guest under `name`, where the server allows guests.
#[server(endpoint = "login")]
pub async fn login(name: String) -> Result<User, AuthError> {
    let parts = ssr::request();
    let user = ssr::doorman()
        .guest(&parts, name)
        .await
        .map_err(ssr::refuse)?;
    ssr::begin(user).await
}

/// Signs out: the session is deleted on the server, not only forgotten by the browser, and every
/// instance is told, so the sockets opened under this sign-in close (4401) wherever they are.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AuthError> {
    let session = ssr::session().await?;
    let sign_in = crate::session::sign_in(&session)
        .await
        .map_err(ssr::unavailable)?;
    crate::session::end(&session)
        .await
        .map_err(ssr::unavailable)?;
    if let Some(sign_in) = sign_in {
        ssr::doorman().signed_out(sign_in).await;
    }
    Ok(())
}

/// Changes the signed-in account's password. Every other sign-in of the account ends, on every
/// instance; this one goes on (its sockets too) under a new session id.
#[server(endpoint = "change_password")]
pub async fn change_password(current: String, new: String) -> Result<(), AuthError> {
    let Some(sign_in) = ssr::signed_in().await? else {
        return Err(ssr::refuse(AuthError::NotSignedIn));
    };
    ssr::doorman()
        .change_password(sign_in, current, new)
        .await
        .map_err(ssr::refuse)?;
    // A change of privilege: a new session id, the same sign-in (its sockets stay open).
    let session = ssr::session().await?;
    session.cycle_id().await.map_err(ssr::unavailable)
}

/// Deletes the signed-in account (its messages stay, under its id) and signs it out
/// everywhere.
#[server(endpoint = "delete_account")]
pub async fn delete_account(password: String) -> Result<(), AuthError> {
    let Some(sign_in) = ssr::signed_in().await? else {
        return Err(ssr::refuse(AuthError::NotSignedIn));
    };
    ssr::doorman()
        .delete_account(sign_in, password)
        .await
        .map_err(ssr::refuse)?;
    let session = ssr::session().await?;
    crate::session::end(&session)
        .await
        .map_err(ssr::unavailable)
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::AuthError;
    use crate::calls::status;
    use crate::protocol::User;
    use crate::session::SignIn;
    use http::{request::Parts, HeaderValue, StatusCode};
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;
    use std::sync::Arc;
    use tower_sessions::Session;

    pub use crate::calls::Pending;

    /// Who may come in, as the server decides it (it provides one as context). Every answer
    /// that refuses is an [`AuthError`] the user reads.
    pub trait Doorman: Send + Sync + 'static {
        /// Whether a name alone lets someone in.
        fn guests(&self) -> bool;

        /// The OpenID provider's name, when single sign-on is configured.
        fn sso(&self) -> Option<String>;

        /// The username offered by a single sign-on waiting in `session` for a handle.
        fn choosing_handle(&self, session: Session) -> Pending<'_, Option<String>>;

        /// Creates the account of the single sign-on waiting in `session`, under `handle`.
        fn sso_handle(
            &self,
            session: Session,
            handle: String,
        ) -> Pending<'_, Result<User, AuthError>>;

        /// A guest named `name`, for the client that sent `request`.
        fn guest<'a>(
            &'a self,
            request: &'a Parts,
            name: String,
        ) -> Pending<'a, Result<User, AuthError>>;

        /// A new account, for the client that sent `request`.
        fn sign_up<'a>(
            &'a self,
            request: &'a Parts,
            handle: String,
            name: String,
            password: String,
        ) -> Pending<'a, Result<User, AuthError>>;

        /// The account this handle and password open.
        fn sign_in<'a>(
            &'a self,
            request: &'a Parts,
            handle: String,
            password: String,
        ) -> Pending<'a, Result<User, AuthError>>;

        /// Changes the password of `sign_in`'s account, if `current` is its password now, and
        /// ends the account's other sign-ins everywhere.
        fn change_password(
            &self,
            sign_in: SignIn,
            current: String,
            new: String,
        ) -> Pending<'_, Result<(), AuthError>>;

        /// Deletes `sign_in`'s account, if `password` is its password, and ends its sign-ins
        /// everywhere.
        fn delete_account(
            &self,
            sign_in: SignIn,
            password: String,
        ) -> Pending<'_, Result<(), AuthError>>;

        /// Whether `sign_in` was ended elsewhere (a changed password) though its session lives
        /// (never, for a guest).
        fn is_ended<'a>(&'a self, sign_in: &'a SignIn) -> Pending<'a, Result<bool, AuthError>>;

        /// `sign_in` signed out: every instance is told, and its sockets close.
        fn signed_out(&self, sign_in: SignIn) -> Pending<'_, ()>;
    }

    /// The server's [`Doorman`], as context.
    #[derive(Clone)]
    pub struct Doors(pub Arc<dyn Doorman>);

    pub fn doorman() -> Arc<dyn Doorman> {
        expect_context::<Doors>().0
    }

    /// The request being answered (its headers and the client's address); empty outside one.
    pub fn request() -> Parts {
        use_context::<Parts>().unwrap_or_else(|| http::Request::new(()).into_parts().0)
    }

    /// The session's sign-in, unless it was ended elsewhere (then the session is deleted).
    pub async fn signed_in() -> Result<Option<SignIn>, AuthError> {
        let session = session().await?;
        let Some(sign_in) = crate::session::sign_in(&session)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        if !doorman().is_ended(&sign_in).await? {
            return Ok(Some(sign_in));
        }
        crate::session::end(&session).await.map_err(unavailable)?;
        Ok(None)
    }

    /// Signs `user` in on this request's session (a new session id).
    pub async fn begin(user: User) -> Result<User, AuthError> {
        let session = session().await?;
        crate::session::begin(&session, user)
            .await
            .map(|sign_in| sign_in.user)
            .map_err(unavailable)
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

    /// The status code that goes with a refusal.
    pub fn status_of(error: &AuthError) -> StatusCode {
        match error {
            AuthError::InvalidName(_)
            | AuthError::InvalidHandle(_)
            | AuthError::WeakPassword(_)
            | AuthError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AuthError::HandleTaken | AuthError::NameIsAHandle => StatusCode::CONFLICT,
            AuthError::WrongCredentials | AuthError::NotSignedIn => StatusCode::UNAUTHORIZED,
            AuthError::GuestsOff => StatusCode::FORBIDDEN,
            AuthError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            AuthError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Answers with a refusal: its status code (and `Retry-After` for a limit) for API clients;
    /// for a plain form post (the page before its WASM loaded, or without JavaScript) a
    /// redirect back to the page with the error in its address, which the sign-in page shows.
    /// Either way the user reads the same message.
    pub fn refuse(error: AuthError) -> AuthError {
        let parts = use_context::<Parts>();
        let plain_form_post = parts.as_ref().is_some_and(|parts| {
            parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
        });
        if let Some(res) = use_context::<ResponseOptions>() {
            if let AuthError::RateLimited(secs) = error {
                res.insert_header(http::header::RETRY_AFTER, HeaderValue::from(secs));
            }
        }
        if plain_form_post {
            let code = serde_json::to_string(&error).unwrap_or_default();
            let query =
                serde_urlencoded::to_string([(super::AUTH_ERROR_PARAM, code)]).unwrap_or_default();
            leptos_axum::redirect(&format!("/?{query}"));
        } else {
            status(status_of(&error));
        }
        error
    }

    pub fn unavailable(err: impl std::fmt::Display) -> AuthError {
        tracing::warn!(error = %err, "session store failed");
        status(StatusCode::SERVICE_UNAVAILABLE);
        AuthError::Unavailable
    }
}

#[cfg(feature = "ssr")]
pub use ssr::{Doors, InstanceName};
