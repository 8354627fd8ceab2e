//! What each component is told at start-up: plain values, one struct per component, parsed from
//! the environment by [`crate::config`]. A component takes its own settings and nothing else, so
//! a test that wants one component builds only that component's settings.
//!
//! This module sits at the bottom of the crate: it imports only other value types.

use crate::{origins::Origins, rate::Rate};
use secrecy::{ExposeSecret, SecretString};
use std::{fmt, net::IpAddr, sync::Arc, time::Duration};

/// Where to listen and who may call (the HTTP layer's settings).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Address to bind (`HOST`, default `0.0.0.0`: Cloud Foundry and containers route to it).
    pub host: IpAddr,
    /// Port to bind (`PORT`, default 3000; 0 picks a free one).
    pub port: u16,
    /// Which sites may act with a user's cookie: the page's own (as addressed, or `PUBLIC_URL`)
    /// and `ALLOWED_ORIGINS` (comma-separated origins, or `*`). See [`crate::origins`].
    pub origins: Arc<Origins>,
    /// The address users reach the app at (`PUBLIC_URL`, e.g. `https://chat.example.com`), when
    /// a proxy in front rewrites `Host`.
    pub public_url: Option<url::Url>,
    /// When set, `GET /metrics` needs `Authorization: Bearer <this>` (`METRICS_TOKEN`).
    pub metrics_token: Option<SecretString>,
}

/// The session cookie.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Name of the session cookie (`SESSION_COOKIE`, default `JSESSIONID`).
    pub cookie: String,
    /// Sessions expire after this long without a request (`SESSION_TTL_SECS`, default 7 days).
    pub ttl: Duration,
    /// Mark the session cookie `Secure` on every response (`SECURE_COOKIES`), not only on https.
    pub secure: bool,
}

/// The built site the pages load (`pkg/`, assets).
#[derive(Debug, Clone)]
pub struct SiteSettings {
    /// The built bundle's name in `pkg/` (`LEPTOS_OUTPUT_NAME`, default `switchboard`; set by
    /// cargo-leptos).
    pub output_name: String,
    /// Where the built site is (`LEPTOS_SITE_ROOT`, default `target/site`).
    pub root: String,
    /// Leptos' development mode (`LEPTOS_ENV=dev`: live reload with `cargo leptos watch`).
    pub dev: bool,
}

/// Where the shared state lives and how much of it is kept (the backend's settings).
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Where Redis is, if anywhere: `REDIS_URL` (one Redis), `REDIS_CLUSTER_URLS` (a Redis
    /// Cluster's seed nodes), else a Redis service in `VCAP_SERVICES`; none is the in-memory
    /// backend.
    pub redis: Option<RedisTarget>,
    /// Prefix for every Redis key and channel (`REDIS_PREFIX`, default `sb:`).
    pub prefix: String,
    /// Messages kept per room (`HISTORY_MAX`, default 10,000; trimmed approximately).
    pub history_max: u64,
    /// How long a room without new messages keeps its history (`ROOM_IDLE_DAYS`, default 30;
    /// `ROOM_IDLE_SECS` overrides it, for tests): then the room's stream is deleted.
    pub room_idle: Duration,
    /// How long a session id keeps working after `GET /` rotated it (`SESSION_GRACE_SECS`,
    /// default 10), so two tabs probing at once both stay logged in.
    pub session_grace: Duration,
}

impl Default for StoreSettings {
    /// The in-memory backend, with every documented default.
    fn default() -> Self {
        Self {
            redis: None,
            prefix: "sb:".to_owned(),
            history_max: 10_000,
            room_idle: Duration::from_secs(30 * 24 * 3600),
            session_grace: Duration::from_secs(10),
        }
    }
}

impl StoreSettings {
    /// `redis`, `redis-cluster` or `memory`: the backend's name in logs and metrics.
    pub fn kind(&self) -> &'static str {
        self.redis.as_ref().map_or("memory", RedisTarget::kind)
    }
}

/// How a socket is kept alive and let go.
#[derive(Debug, Clone, Copy)]
pub struct SocketSettings {
    /// Seconds between heartbeat frames on a socket (`HEARTBEAT_SECS`, default 15).
    pub heartbeat: Duration,
    /// On SIGTERM, sockets are closed (1012) spread over this window (`DRAIN_SECS`, default 5,
    /// at most 9 to finish inside Cloud Foundry's 10 s before SIGKILL).
    pub drain: Duration,
}

impl Default for SocketSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(app::protocol::HEARTBEAT_SECS),
            drain: Duration::from_secs(5),
        }
    }
}

/// How presence is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceSettings {
    /// An entry lives this long unless renewed (`PRESENCE_TTL_SECS`, default 12): a dead
    /// instance's users are listed at most this long, plus a sweep.
    pub ttl: Duration,
    /// A user whose last socket here closed stays present this long (`PRESENCE_GRACE_SECS`,
    /// default 5), so a refresh or a reconnect elsewhere never shows as leaving.
    pub grace: Duration,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(12),
            grace: Duration::from_secs(5),
        }
    }
}

impl PresenceSettings {
    /// How often entries are renewed and ended ones swept: a third of their life, so one missed
    /// renewal does not end them.
    pub fn tick(&self) -> Duration {
        self.ttl / 3
    }
}

/// What one user, address or instance may do (see `docs/security.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages one user may send, across all their sockets and instances
    /// (`RATE_MESSAGES_PER_SEC`, default 10, with `RATE_MESSAGES_BURST`, default 20, at once).
    pub messages: Rate,
    /// Sign-ins (with a password, or as a guest) from one address (`RATE_LOGINS_PER_MIN`,
    /// default 10, all of them at once).
    pub logins: Rate,
    /// Sign-ins to one account, from anywhere (`RATE_SIGNINS_PER_ACCOUNT_PER_MIN`, default 5,
    /// 10 at once): guessing one person's password is slow however many addresses try.
    pub account_sign_ins: Rate,
    /// New accounts from one address (`RATE_SIGNUPS_PER_HOUR`, default 20, 5 at once).
    pub sign_ups: Rate,
    /// Sockets one user may have open on one instance (`MAX_SOCKETS_PER_USER`, default 20).
    pub sockets_per_user: u32,
    /// Sockets one instance takes (`MAX_SOCKETS`, default 50,000).
    pub sockets: u32,
    /// How many proxies in front add to `X-Forwarded-For` (`PROXY_HOPS`; default 1 on Cloud
    /// Foundry, whose router adds the client's address, else 0: the peer address is the
    /// client's). The client's address is the one that many entries from the right.
    pub proxy_hops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            messages: Rate::per_second(10, 20),
            logins: Rate::per_minute(10, 10),
            account_sign_ins: Rate::per_minute(5, 10),
            sign_ups: Rate::per_hour(20, 5),
            sockets_per_user: 20,
            sockets: 50_000,
            proxy_hops: 0,
        }
    }
}

/// A connection URL that may carry a password (a Redis or a PostgreSQL URL): `Debug` shows it
/// with the password masked (hand-written rather than secrecy's `[REDACTED]`, so logs still say
/// which server).
#[derive(Clone)]
pub struct SecretUrl(SecretString);

/// Where Redis is.
pub type RedisUrl = SecretUrl;
/// Where PostgreSQL is (`postgres://user:password@host:port/database?...`).
pub type DatabaseUrl = SecretUrl;

impl SecretUrl {
    pub fn new(url: String) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The URL without its password, for logs.
    pub fn redacted(&self) -> String {
        match url::Url::parse(self.expose()) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            Err(_) => "<unparseable url>".to_owned(),
        }
    }
}

impl PartialEq for SecretUrl {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Who may come in, and where accounts are kept.
#[derive(Debug, Clone, Default)]
pub struct AccountSettings {
    /// PostgreSQL, for accounts (`DATABASE_URL`, else a PostgreSQL service in `VCAP_SERVICES`);
    /// none keeps them in this process's memory.
    pub database: Option<DatabaseUrl>,
    /// Whether a name alone lets someone in, as a guest (`ALLOW_GUESTS`, default off). A guest's
    /// name may not be an account's handle, and the page marks guests.
    pub guests: bool,
    /// The handles of the server's admins (`ADMINS`, comma-separated): they may moderate any
    /// room but a direct conversation.
    pub admins: Vec<app::protocol::Handle>,
    /// Single sign-on through an OpenID provider, when one is configured.
    pub sso: Option<SsoSettings>,
}

/// An OpenID Connect provider to sign in with.
#[derive(Debug, Clone)]
pub struct SsoSettings {
    /// `OIDC_ISSUER_URL`, exactly as the provider writes it (an ID token's `iss` must equal it,
    /// trailing slash and all): discovery starts at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// `OIDC_CLIENT_ID`.
    pub client_id: String,
    /// `OIDC_CLIENT_SECRET`.
    pub client_secret: SecretString,
    /// Where the provider sends people back (`OIDC_REDIRECT_BASE`, else `PUBLIC_URL`): the
    /// callback is `<base>/auth/oidc/callback`.
    pub redirect_base: url::Url,
    /// The provider's name on the sign-in button (`OIDC_PROVIDER_NAME`, default "single sign-on").
    pub name: String,
}

/// The Redis deployment the backend talks to.
#[derive(Debug, Clone, PartialEq)]
pub enum RedisTarget {
    /// One Redis (or anything that looks like one: a primary behind a proxy, a managed endpoint).
    Single(RedisUrl),
    /// A Redis Cluster, found through these seed nodes (any one that answers is enough).
    Cluster(Vec<RedisUrl>),
}

impl RedisTarget {
    /// The addresses without passwords, for logs.
    pub fn redacted(&self) -> String {
        match self {
            Self::Single(url) => url.redacted(),
            Self::Cluster(urls) => {
                let urls: Vec<String> = urls.iter().map(RedisUrl::redacted).collect();
                format!("cluster {}", urls.join(","))
            }
        }
    }

    /// `redis` or `redis-cluster`: the backend's name in logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Single(_) => "redis",
            Self::Cluster(_) => "redis-cluster",
        }
    }
}
