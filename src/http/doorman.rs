//! The server's side of the login and logout server functions (`app::auth`): logins limited per
//! client address, and a logout announced to every instance.
//!
//! Logout everywhere means everywhere: the session id alone cannot find a user's open sockets
//! (`GET /` rotates the id on every page load and reconnect, so an open socket's id is long
//! retired), but all of them share the user id, which stays with the session across rotations:
//! the logout is announced by user id, and those sockets close with 4401.

use crate::{listener::Peer, state::AppState};
use app::auth::ssr::{Doorman, Pending};
use app::protocol::UserId;
use axum::{
    extract::connect_info::ConnectInfo,
    http::{request::Parts, HeaderMap},
};
use std::net::IpAddr;

/// Limits logins per address and announces logouts, for this instance's state.
pub struct Doors(pub AppState);

impl Doorman for Doors {
    fn admit_login<'a>(&'a self, request: &'a Parts) -> Pending<'a, Result<(), u64>> {
        Box::pin(async move {
            let state = &self.0;
            let peer = request
                .extensions
                .get::<ConnectInfo<Peer>>()
                .map(|ConnectInfo(Peer(addr))| addr.ip());
            let Some(address) =
                client_address(&request.headers, peer, state.settings.limits.proxy_hops)
            else {
                return Ok(());
            };
            let key = format!("login:{address}");
            match state.limiter.take(&key, state.settings.limits.logins).await {
                Ok(None) => Ok(()),
                Ok(Some(wait)) => {
                    state.metrics.rate_limited_logins.inc();
                    Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rate limiter unavailable; not limiting logins");
                    Ok(())
                }
            }
        })
    }

    fn logged_out(&self, user: UserId) -> Pending<'_, ()> {
        Box::pin(async move {
            let state = &self.0;
            if let Err(e) = state
                .signals
                .revoke(user, state.settings.sessions.ttl)
                .await
            {
                // The session is gone, so no new socket opens; open ones close at the next
                // interruption check. Worth a warning, not a failed logout.
                tracing::warn!(error = %e, "could not announce a logout to the other instances");
            }
        })
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
