//! Who may come in: sign-ups, sign-ins, guests, changed passwords and deleted accounts, and the
//! limits on each. The HTTP edge (`http::doorman`) hands it the client's address; the session is
//! the server function's (`app::auth`), which signs the person in once this says who they are.
//!
//! - **Limits.** Every attempt counts against its client address (`RATE_LOGINS_PER_MIN`); a
//!   sign-in also counts against the handle it names (`RATE_SIGNINS_PER_ACCOUNT_PER_MIN`),
//!   whether or not an account has it, so guessing one person's password is slow from any
//!   number of addresses and the limit does not tell which handles exist; a sign-up counts
//!   against its address (`RATE_SIGNUPS_PER_HOUR`). The buckets are the backend's, shared by
//!   every instance. A limiter that is down limits nothing (logged): a Redis outage must not lock
//!   everyone out.
//! - **No enumeration.** An unknown handle and a wrong password get the same answer, after the
//!   same work (a stand-in hash is verified when there is no account).
//! - **Ending sign-ins.** A changed password or a deleted account ends every earlier sign-in of
//!   the account on every instance ([`Revocation::Account`]), and so does a server admin who
//!   ends them ([`SignIns::end_everywhere`]); a sign-out ends its own.

use crate::accounts::{
    password::PasswordHash, Account, AccountError, AccountStore, HandleKey, PasswordPolicy,
};
use crate::backend::{BackendError, Limiter, Revocation, Signals};
use crate::memberships::Memberships;
use crate::metrics::Metrics;
use crate::rate::Rate;
use crate::settings::Limits;
use crate::sso::Identity;
use app::auth::AuthError;
use app::protocol::{User, UserId, UserName};
use app::session::{SignIn, SignInId};
use prometheus_client::metrics::counter::Counter;
use std::{net::IpAddr, sync::Arc, time::Duration};

/// Where a single sign-on leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoOutcome {
    SignedIn(User),
    /// The provider's username is taken (or no handle): the person picks one.
    ChooseHandle,
}

/// The stores and settings a [`SignIns`] works with.
pub struct SignIns {
    pub accounts: Arc<dyn AccountStore>,
    /// A deleted account's memberships go with it.
    pub memberships: Arc<dyn Memberships>,
    pub limiter: Arc<dyn Limiter>,
    pub signals: Arc<dyn Signals>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// Whether a name alone lets someone in (`ALLOW_GUESTS`).
    pub guests: bool,
    /// How long a revocation must be remembered: as long as a session can live.
    pub session_ttl: Duration,
}

impl SignIns {
    /// A guest named `name`: guests must be allowed, and the name must not be (or look like)
    /// an account's handle.
    pub async fn guest(&self, address: Option<IpAddr>, name: &str) -> Result<User, AuthError> {
        if !self.guests {
            return Err(AuthError::GuestsOff);
        }
        self.limit_address(address).await?;
        let name = UserName::parse(name).map_err(AuthError::InvalidName)?;
        let key = HandleKey::of_text(name.as_str().trim_start_matches('@'));
        if self
            .accounts
            .by_handle(&key)
            .await
            .map_err(unavailable)?
            .is_some()
        {
            return Err(AuthError::NameIsAHandle);
        }
        Ok(User::guest(UserId(uuid::Uuid::new_v4()), name))
    }

    /// A new account under `handle`, with `password`; its display name is `name`, or the
    /// handle when `name` is blank.
    pub async fn sign_up(
        &self,
        address: Option<IpAddr>,
        handle: &str,
        name: &str,
        password: String,
    ) -> Result<User, AuthError> {
        self.limit_address(address).await?;
        let handle = crate::accounts::new_handle(handle).map_err(AuthError::InvalidHandle)?;
        let name = match name.trim() {
            "" => UserName::parse(handle.as_str()),
            name => UserName::parse(name),
        }
        .map_err(AuthError::InvalidName)?;
        PasswordPolicy
            .check(&password, &[handle.as_str(), name.as_str()])
            .map_err(AuthError::WeakPassword)?;
        if let Some(address) = address {
            let key = format!("signup:{address}");
            self.limit(
                &key,
                self.limits.sign_ups,
                &self.metrics.rate_limited_sign_ups,
            )
            .await?;
        }
        let account = Account {
            id: UserId(uuid::Uuid::new_v4()),
            handle,
            name,
            password: Some(PasswordHash::new(password).await),
        };
        match self.accounts.create(&account).await {
            Ok(()) => {
                tracing::info!(user_id = %account.id, handle = %account.handle, "account created");
                Ok(account.user())
            }
            Err(AccountError::HandleTaken) => Err(AuthError::HandleTaken),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The account `handle` and `password` open.
    pub async fn sign_in(
        &self,
        address: Option<IpAddr>,
        handle: &str,
        password: String,
    ) -> Result<User, AuthError> {
        self.limit_address(address).await?;
        // Any text is looked up (and limited) as it is: a handle that cannot exist finds no
        // account, and gets the same answer as a wrong password.
        let key = HandleKey::of_text(handle.trim().trim_start_matches('@'));
        self.limit_account(&key).await?;
        let account = self.accounts.by_handle(&key).await.map_err(unavailable)?;
        // A hash is verified either way: an unknown handle costs what a wrong password costs.
        let opened = match &account {
            Some(account) => self.verify(account, password).await,
            None => PasswordHash::verify_nothing(password).await,
        };
        match account {
            Some(account) if opened => Ok(account.user()),
            _ => {
                self.metrics.sign_ins_refused.inc();
                Err(AuthError::WrongCredentials)
            }
        }
    }

    /// The account `identity` (from a verified ID token) signs in to. The first sign-in creates
    /// it under the provider's `preferred_username` when that is a free handle; otherwise the
    /// person chooses one ([`SsoOutcome::ChooseHandle`]): accounts are never merged.
    pub async fn sso(&self, identity: &Identity) -> Result<SsoOutcome, AuthError> {
        let known = self
            .accounts
            .by_identity(&identity.issuer, &identity.subject)
            .await
            .map_err(unavailable)?;
        if let Some(account) = known {
            return Ok(SsoOutcome::SignedIn(account.user()));
        }
        let offered = identity.username.as_deref().unwrap_or_default();
        match self.create_from_sso(identity, offered).await {
            Ok(user) => Ok(SsoOutcome::SignedIn(user)),
            Err(AuthError::HandleTaken | AuthError::InvalidHandle(_)) => {
                Ok(SsoOutcome::ChooseHandle)
            }
            Err(e) => Err(e),
        }
    }

    /// The account a first single sign-on creates, under the handle the person chose.
    pub async fn create_from_sso(
        &self,
        identity: &Identity,
        handle: &str,
    ) -> Result<User, AuthError> {
        let handle = crate::accounts::new_handle(handle).map_err(AuthError::InvalidHandle)?;
        let name = identity
            .name
            .as_deref()
            .and_then(|n| UserName::parse(n).ok())
            .map_or_else(|| UserName::parse(handle.as_str()), Ok)
            .map_err(AuthError::InvalidName)?;
        let account = Account {
            id: UserId(uuid::Uuid::new_v4()),
            handle,
            name,
            password: None,
        };
        match self
            .accounts
            .create_with_identity(&account, &identity.issuer, &identity.subject)
            .await
        {
            Ok(()) => {
                tracing::info!(user_id = %account.id, handle = %account.handle, issuer = %identity.issuer, "account created by single sign-on");
                Ok(account.user())
            }
            Err(AccountError::HandleTaken) => Err(AuthError::HandleTaken),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Changes `sign_in`'s password, if `current` is its password, and ends every other sign-in
    /// of the account made before now (the caller gives the session a new id).
    pub async fn change_password(
        &self,
        sign_in: &SignIn,
        current: String,
        new: String,
    ) -> Result<(), AuthError> {
        let account = self.own_account(sign_in, current).await?;
        PasswordPolicy
            .check(&new, &[account.handle.as_str(), account.name.as_str()])
            .map_err(AuthError::WeakPassword)?;
        let hash = PasswordHash::new(new).await;
        if !self
            .accounts
            .set_password(account.id, &hash)
            .await
            .map_err(unavailable)?
        {
            return Err(AuthError::NotSignedIn);
        }
        tracing::info!(user_id = %account.id, "password changed; ending the account's other sign-ins");
        self.end_all(account.id, crate::clock::unix_ms(), Some(sign_in.id))
            .await;
        Ok(())
    }

    /// Deletes `sign_in`'s account, if `password` is its password, and ends all its sign-ins.
    pub async fn delete_account(
        &self,
        sign_in: &SignIn,
        password: String,
    ) -> Result<(), AuthError> {
        let account = self.own_account(sign_in, password).await?;
        self.accounts
            .delete(account.id)
            .await
            .map_err(unavailable)?;
        if let Err(e) = self.memberships.forget(account.id).await {
            // PostgreSQL deleted them with the account (a cascade); only memory can miss here.
            tracing::warn!(error = %e, user_id = %account.id, "could not forget a deleted account's rooms");
        }
        tracing::info!(user_id = %account.id, "account deleted; ending its sign-ins");
        self.end_all(account.id, u64::MAX, None).await;
        Ok(())
    }

    /// Whether `sign_in` was ended elsewhere (a changed password, a deleted account) though its
    /// session lives. A guest's session is deleted at sign-out, so a guest needs no look-up.
    pub async fn is_ended(&self, sign_in: &SignIn) -> Result<bool, AuthError> {
        if sign_in.user.is_guest() {
            return Ok(false);
        }
        self.signals.is_revoked(sign_in).await.map_err(unavailable)
    }

    /// `sign_in` signed out: its sockets close on every instance.
    pub async fn signed_out(&self, sign_in: &SignIn) {
        self.revoke(Revocation::SignIn(sign_in.id)).await;
    }

    /// The account behind `sign_in`, when `password` is its password (limited like a sign-in).
    async fn own_account(&self, sign_in: &SignIn, password: String) -> Result<Account, AuthError> {
        let Some(handle) = &sign_in.user.handle else {
            return Err(AuthError::NotSignedIn);
        };
        self.limit_account(&HandleKey::of(handle)).await?;
        let account = self
            .accounts
            .by_id(sign_in.user.id)
            .await
            .map_err(unavailable)?
            .ok_or(AuthError::NotSignedIn)?;
        if !self.verify(&account, password).await {
            self.metrics.sign_ins_refused.inc();
            return Err(AuthError::WrongCredentials);
        }
        Ok(account)
    }

    async fn verify(&self, account: &Account, password: String) -> bool {
        match &account.password {
            Some(hash) => hash.verify(password).await,
            None => PasswordHash::verify_nothing(password).await,
        }
    }

    /// Ends every sign-in `user` has now, on every instance (a server admin's doing): unlike
    /// [`Self::end_all`] a failure is the caller's to report, since nothing was ended.
    pub async fn end_everywhere(&self, user: UserId) -> Result<(), BackendError> {
        let ended = Revocation::Account {
            user,
            before_ms: crate::clock::unix_ms(),
            keep: None,
        };
        self.signals.revoke(ended, self.session_ttl).await
    }

    async fn end_all(&self, user: UserId, before_ms: u64, keep: Option<SignInId>) {
        self.revoke(Revocation::Account {
            user,
            before_ms,
            keep,
        })
        .await;
    }

    async fn revoke(&self, revocation: Revocation) {
        if let Err(e) = self.signals.revoke(revocation, self.session_ttl).await {
            // Sessions already deleted stay deleted; sockets still open close at their next
            // interruption check. Worth a warning, not a failed call.
            tracing::warn!(error = %e, ?revocation, "could not announce a sign-out to the other instances");
        }
    }

    async fn limit_address(&self, address: Option<IpAddr>) -> Result<(), AuthError> {
        let Some(address) = address else {
            return Ok(());
        };
        self.limit(
            &format!("login:{address}"),
            self.limits.logins,
            &self.metrics.rate_limited_logins,
        )
        .await
    }

    async fn limit_account(&self, key: &HandleKey) -> Result<(), AuthError> {
        self.limit(
            &format!("signin:{key}"),
            self.limits.account_sign_ins,
            &self.metrics.rate_limited_account_sign_ins,
        )
        .await
    }

    async fn limit(&self, key: &str, rate: Rate, refused: &Counter) -> Result<(), AuthError> {
        match self.limiter.take(key, rate).await {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => {
                refused.inc();
                Err(AuthError::RateLimited(
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; not limiting sign-ins");
                Ok(())
            }
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> AuthError {
    tracing::warn!(error = %e, "the account store or the backend failed");
    AuthError::Unavailable
}
