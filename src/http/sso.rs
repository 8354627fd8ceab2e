//! The two stops of a single sign-on (work in progress): `GET /auth/oidc/start` sends the browser
//! to the provider, and `GET /auth/oidc/callback` takes it back, signed in.
//!
//! The started sign-in ([`crate::sso::Pending`]) waits in the browser's session and is taken out
//! at the callback: a callback is good once, in the session that started it. Anything else that
//! arrives there (a replay, a foreign `state`, a provider's error, an ID token that does not
//! verify) gets `400` and a page that says so, and signs no one in.

use crate::sign_ins::SsoOutcome;
use crate::sso::{Identity, Pending, SsoError};
use crate::state::AppState;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

const PENDING_KEY: &str = "oidc_pending";
/// A verified identity that still needs a handle (its provider's username was taken).
pub const IDENTITY_KEY: &str = "oidc_identity";

pub async fn start(State(state): State<AppState>, session: Session) -> Response {
    let Some(sso) = state.sso.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match sso.start(crate::clock::unix_ms()).await {
        Ok((url, pending)) => match session.insert(PENDING_KEY, &pending).await {
            Ok(()) => Redirect::to(url.as_str()).into_response(),
            Err(e) => {
                tracing::warn!(error = %e, "session store failed");
                failed(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sessions are unavailable right now.",
                )
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "could not start a single sign-on");
            failed(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "{} is unavailable right now. Please try again in a moment.",
                    sso.name()
                ),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    Query(answer): Query<Callback>,
) -> Response {
    let Some(sso) = state.sso.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Taken out first: whatever happens next, this callback cannot be used again.
    let pending = session.remove::<Pending>(PENDING_KEY).await.ok().flatten();
    if let Some(error) = answer.error {
        tracing::info!(%error, "the provider ended a single sign-on");
        return failed(
            StatusCode::BAD_REQUEST,
            "The sign-in was cancelled or refused by the provider.",
        );
    }
    let (Some(code), Some(returned)) = (answer.code, answer.state) else {
        return failed(
            StatusCode::BAD_REQUEST,
            "The provider's answer was incomplete.",
        );
    };
    let identity = match sso
        .finish(pending, &returned, code, crate::clock::unix_ms())
        .await
    {
        Ok(identity) => identity,
        Err(SsoError::NotStarted) => {
            return failed(
                StatusCode::BAD_REQUEST,
                "This sign-in was not started here, or it was finished already.",
            )
        }
        Err(e @ SsoError::Refused(_)) => {
            tracing::warn!(error = %e, "a single sign-on did not verify");
            return failed(
                StatusCode::BAD_REQUEST,
                "The provider's answer could not be verified.",
            );
        }
        Err(e @ SsoError::Unavailable(_)) => {
            tracing::warn!(error = %e, "single sign-on failed");
            return failed(
                StatusCode::SERVICE_UNAVAILABLE,
                "The provider is unavailable right now.",
            );
        }
    };
    match state.sign_ins.sso(&identity).await {
        Ok(SsoOutcome::SignedIn(user)) => match app::session::begin(&session, user).await {
            Ok(_) => Redirect::to("/").into_response(),
            Err(e) => {
                tracing::warn!(error = %e, "session store failed");
                failed(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sessions are unavailable right now.",
                )
            }
        },
        Ok(SsoOutcome::ChooseHandle) => choose_handle(&session, &identity).await,
        Err(e) => failed(app::auth::ssr::status_of(&e), &e.to_string()),
    }
}

/// Keeps the verified identity in the session; the sign-in page asks for a handle.
async fn choose_handle(session: &Session, identity: &Identity) -> Response {
    match session.insert(IDENTITY_KEY, identity).await {
        Ok(()) => Redirect::to("/?choose_handle").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "session store failed");
            failed(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sessions are unavailable right now.",
            )
        }
    }
}

/// A small page that says why the sign-in did not happen, and the way back.
fn failed(status: StatusCode, why: &str) -> Response {
    let why = why.replace('&', "&amp;").replace('<', "&lt;");
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in did not \
         complete · Switchboard</title></head><body><main><h1>Sign-in did not complete</h1>\
         <p>{why}</p><p><a href=\"/\">Back to Switchboard</a></p></main></body></html>"
    );
    (status, Html(page)).into_response()
}
