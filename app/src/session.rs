//! How a logged-in user is kept in the session (server only).
//!
//! The session holds one value, the [`User`], under one key. Server functions and the `/ws`
//! handler both go through here, so there is a single answer to "who is this request".

use crate::protocol::{User, UserId, UserName};
use tower_sessions::Session;
use uuid::Uuid;

const USER_KEY: &str = "user";

/// A failure of the session store (e.g. Redis is unreachable).
pub type Error = tower_sessions::session::Error;

/// The logged-in user, if there is one.
pub async fn user(session: &Session) -> Result<Option<User>, Error> {
    session.get::<User>(USER_KEY).await
}

/// Logs `name` in under a new random id. The session id is cycled first, so an id that existed
/// before login (perhaps planted by an attacker) does not become a logged-in session.
pub async fn log_in(session: &Session, name: UserName) -> Result<User, Error> {
    session.cycle_id().await?;
    let user = User {
        id: UserId(Uuid::new_v4()),
        name,
    };
    session.insert(USER_KEY, &user).await?;
    Ok(user)
}

/// Deletes the session in the store; its cookie is removed in the response.
pub async fn log_out(session: &Session) -> Result<(), Error> {
    session.flush().await
}
