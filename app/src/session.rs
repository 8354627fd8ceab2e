//! How a signed-in person is kept in the session (server only).
//!
//! The session holds one value, the [`SignIn`], under one key. Server functions and the `/ws`
//! handler both go through here, so there is a single answer to "who is this request".

use crate::protocol::{User, UserId};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use uuid::Uuid;

const SIGN_IN_KEY: &str = "sign_in";
/// Where sessions made before accounts existed keep their (guest) user.
const LEGACY_USER_KEY: &str = "user";

/// A failure of the session store (e.g. Redis is unreachable).
pub type Error = tower_sessions::session::Error;

/// Which sign-in a session carries: it stays the same across the id rotations of `GET /`, so a
/// sign-out finds every socket opened under it, on every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignInId(pub Uuid);

impl std::fmt::Display for SignInId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Who signed in, which sign-in it is, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub user: User,
    /// For a guest, the guest's own id: each guest login is a new person.
    pub id: SignInId,
    /// When (unix ms). A changed password ends the account's sign-ins from before it.
    pub at_ms: u64,
}

impl SignIn {
    /// A new sign-in of `user`, now.
    pub fn new(user: User) -> Self {
        let id = match user.handle {
            None => SignInId(user.id.0),
            Some(_) => SignInId(Uuid::new_v4()),
        };
        Self {
            user,
            id,
            at_ms: now_ms(),
        }
    }

    pub fn user_id(&self) -> UserId {
        self.user.id
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The session's sign-in, if there is one.
pub async fn sign_in(session: &Session) -> Result<Option<SignIn>, Error> {
    if let Some(sign_in) = session.get::<SignIn>(SIGN_IN_KEY).await? {
        return Ok(Some(sign_in));
    }
    // A guest session from before accounts: its sign-in was its user.
    Ok(session
        .get::<User>(LEGACY_USER_KEY)
        .await?
        .map(|user| SignIn {
            id: SignInId(user.id.0),
            user,
            at_ms: 0,
        }))
}

/// The signed-in user, if there is one.
pub async fn user(session: &Session) -> Result<Option<User>, Error> {
    Ok(sign_in(session).await?.map(|s| s.user))
}

/// Signs `user` in on this session. The session id is cycled first, so an id that existed
/// before (perhaps planted by an attacker) does not become a signed-in session.
pub async fn begin(session: &Session, user: User) -> Result<SignIn, Error> {
    session.cycle_id().await?;
    let sign_in = SignIn::new(user);
    session.remove_value(LEGACY_USER_KEY).await?;
    session.insert(SIGN_IN_KEY, &sign_in).await?;
    Ok(sign_in)
}

/// Deletes the session in the store; its cookie is removed in the response.
pub async fn end(session: &Session) -> Result<(), Error> {
    session.flush().await
}
