//! The server's side of the sign-in server functions (`app::auth`): the [`SignIns`] service,
//! given each request's client address.
//!
//! A sign-out reaches everywhere: the session id alone cannot find the sockets opened under it
//! (`GET /` rotates the id on every page load and reconnect, so an open socket's id is long
//! retired), but all of them share the sign-in's id, which stays with the session across
//! rotations: the sign-out is announced by that id, and those sockets close with 4401.
//!
//! [`SignIns`]: crate::sign_ins::SignIns

use crate::sso::Identity;
use crate::{listener::Peer, state::AppState};
use app::auth::{
    ssr::{Doorman, Pending},
    AuthError,
};
use app::protocol::User;
use app::session::SignIn;
use axum::{
    extract::connect_info::ConnectInfo,
    http::{request::Parts, HeaderMap},
};
use std::net::IpAddr;
use tower_sessions::Session;

/// This instance's [`Doorman`].
pub struct Doors(pub AppState);

impl Doors {
    /// The client's address, as far as the proxies in front are trusted.
    fn address(&self, request: &Parts) -> Option<IpAddr> {
        let peer = request
            .extensions
            .get::<ConnectInfo<Peer>>()
            .map(|ConnectInfo(Peer(addr))| addr.ip());
        client_address(&request.headers, peer, self.0.settings.limits.proxy_hops)
    }
}

impl Doorman for Doors {
    fn guests(&self) -> bool {
        self.0.settings.guests
    }

    fn sso(&self) -> Option<String> {
        self.0.sso.as_ref().map(|sso| sso.name().to_owned())
    }

    fn choosing_handle(&self, session: Session) -> Pending<'_, Option<String>> {
        Box::pin(async move {
            let identity = session
                .get::<Identity>(super::sso::IDENTITY_KEY)
                .await
                .ok()
                .flatten()?;
            Some(identity.username.unwrap_or_default())
        })
    }

    fn sso_handle(&self, session: Session, handle: String) -> Pending<'_, Result<User, AuthError>> {
        Box::pin(async move {
            let identity = session
                .get::<Identity>(super::sso::IDENTITY_KEY)
                .await
                .map_err(|_| AuthError::Unavailable)?
                .ok_or(AuthError::NotSignedIn)?;
            let user = self.0.sign_ins.create_from_sso(&identity, &handle).await?;
            let _ = session.remove_value(super::sso::IDENTITY_KEY).await;
            Ok(user)
        })
    }

    fn guest<'a>(
        &'a self,
        request: &'a Parts,
        name: String,
    ) -> Pending<'a, Result<User, AuthError>> {
        Box::pin(async move { self.0.sign_ins.guest(self.address(request), &name).await })
    }

    fn sign_up<'a>(
        &'a self,
        request: &'a Parts,
        handle: String,
        name: String,
        password: String,
    ) -> Pending<'a, Result<User, AuthError>> {
        Box::pin(async move {
            let address = self.address(request);
            self.0
                .sign_ins
                .sign_up(address, &handle, &name, password)
                .await
        })
    }

    fn sign_in<'a>(
        &'a self,
        request: &'a Parts,
        handle: String,
        password: String,
    ) -> Pending<'a, Result<User, AuthError>> {
        Box::pin(async move {
            let address = self.address(request);
            self.0.sign_ins.sign_in(address, &handle, password).await
        })
    }

    fn change_password(
        &self,
        sign_in: SignIn,
        current: String,
        new: String,
    ) -> Pending<'_, Result<(), AuthError>> {
        Box::pin(async move {
            self.0
                .sign_ins
                .change_password(&sign_in, current, new)
                .await
        })
    }

    fn delete_account(
        &self,
        sign_in: SignIn,
        password: String,
    ) -> Pending<'_, Result<(), AuthError>> {
        Box::pin(async move { self.0.sign_ins.delete_account(&sign_in, password).await })
    }

    fn is_ended<'a>(&'a self, sign_in: &'a SignIn) -> Pending<'a, Result<bool, AuthError>> {
        Box::pin(self.0.sign_ins.is_ended(sign_in))
    }

    fn signed_out(&self, sign_in: SignIn) -> Pending<'_, ()> {
        Box::pin(async move { self.0.sign_ins.signed_out(&sign_in).await })
    }
}

/// The client's address: `hops` entries from the right of `X-Forwarded-For` (each proxy in
/// front appends the address it was reached from, so the entries further left are the client's
/// own say and cannot be trusted), or the peer's address without proxies.
pub fn client_address(headers: &HeaderMap, peer: Option<IpAddr>, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    forwarded
        .len()
        .checked_sub(hops)
        .and_then(|i| forwarded[i].parse().ok())
        .or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_is_counted_from_the_nearest_proxy() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let headers: HeaderMap = [(
            "x-forwarded-for".parse().unwrap(),
            "6.6.6.6, 203.0.113.9".parse().unwrap(),
        )]
        .into_iter()
        .collect();
        // No proxy: the peer, whatever the client wrote in the header.
        assert_eq!(client_address(&headers, Some(peer), 0), Some(peer));
        // One proxy: the address it saw, not the one the client claimed before it.
        assert_eq!(
            client_address(&headers, Some(peer), 1),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            client_address(&headers, Some(peer), 2),
            Some("6.6.6.6".parse().unwrap())
        );
        // More hops configured than entries: the peer.
        assert_eq!(client_address(&headers, Some(peer), 3), Some(peer));
        assert_eq!(client_address(&HeaderMap::new(), Some(peer), 1), Some(peer));
    }
}
