//! Configuration: read once from the environment at start-up, into one settings struct per
//! component ([`crate::settings`]).
//!
//! Every variable is optional. A value that is present but wrong stops start-up with an error that
//! names the variable; nothing is silently replaced by a default. Secrets (a Redis URL's password,
//! the metrics token) never show in `Debug` output.

mod vcap;

use crate::origins::Origins;
use crate::rate::Rate;
use crate::settings::{
    AccountSettings, DatabaseUrl, HttpSettings, Limits, PresenceSettings, RedisTarget, RedisUrl,
    SessionSettings, SiteSettings, SocketSettings, SsoSettings, StoreSettings,
};
use crate::telemetry::LogFormat;
use std::{fmt, ops::RangeInclusive, str::FromStr, sync::Arc, time::Duration};

/// Everything the server needs to know about its environment, by component.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: HttpSettings,
    pub accounts: AccountSettings,
    pub sessions: SessionSettings,
    pub site: SiteSettings,
    pub store: StoreSettings,
    pub socket: SocketSettings,
    pub presence: PresenceSettings,
    pub limits: Limits,
    /// This instance's name, shown to users (`INSTANCE_ID`, else `CF_INSTANCE_INDEX`, else
    /// `HOSTNAME`:port).
    pub instance_id: Option<String>,
    /// This machine's name (`HOSTNAME`, default `localhost`): with the port, the instance's
    /// name when neither `INSTANCE_ID` nor `CF_INSTANCE_INDEX` is set.
    pub hostname: String,
    /// How log lines are written (`LOG_FORMAT`: `text`, the default, or `json`).
    pub log_format: LogFormat,
}

/// A variable that is set but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn bad(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env { lookup: &lookup };
        let store = store(&env)?;
        let on_cloud_foundry = lookup("VCAP_APPLICATION").is_some();
        // The in-memory backend cannot be shared: several Cloud Foundry instances on it would
        // silently split the users into separate chats. The second and later refuse to start.
        let cf_index = env
            .get("CF_INSTANCE_INDEX")
            .and_then(|i| i.trim().parse::<u32>().ok());
        if store.redis.is_none() && on_cloud_foundry && cf_index.unwrap_or(0) > 0 {
            return Err(bad(
                "VCAP_SERVICES",
                "no Redis service is bound, and the in-memory backend serves one instance only: \
                 bind a Redis service (see docs/deploy.md) or scale to 1 instance",
            ));
        }
        let log_format = match env.get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(bad("LOG_FORMAT", "use text or json")),
        };
        Ok(Self {
            http: http(&env)?,
            accounts: accounts(&env)?,
            sessions: sessions(&env)?,
            site: SiteSettings {
                output_name: env.or("LEPTOS_OUTPUT_NAME", "switchboard"),
                root: env.or("LEPTOS_SITE_ROOT", "target/site"),
                dev: matches!(
                    env.get("LEPTOS_ENV")
                        .map(|v| v.to_ascii_lowercase())
                        .as_deref(),
                    Some("dev" | "development")
                ),
            },
            store,
            socket: {
                let d = SocketSettings::default();
                SocketSettings {
                    drain: env.seconds("DRAIN_SECS", d.drain, 0..=9)?,
                    heartbeat: env.seconds("HEARTBEAT_SECS", d.heartbeat, 1..=55)?,
                }
            },
            presence: {
                let d = PresenceSettings::default();
                PresenceSettings {
                    ttl: env.seconds("PRESENCE_TTL_SECS", d.ttl, 3..=300)?,
                    grace: env.seconds("PRESENCE_GRACE_SECS", d.grace, 1..=60)?,
                }
            },
            limits: limits(&env, on_cloud_foundry)?,
            instance_id: env
                .get("INSTANCE_ID")
                .or_else(|| env.get("CF_INSTANCE_INDEX")),
            hostname: env.or("HOSTNAME", "localhost"),
            log_format,
        })
    }
}

/// The environment as configuration reads it: a blank value counts as unset.
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    /// A whole number within `range` (`default` when unset).
    fn count<T: FromStr + PartialOrd + fmt::Display>(
        &self,
        var: &'static str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError> {
        whole(var, self.get(var), default, range, "")
    }

    /// A whole number of seconds within `range` (`default` when unset).
    fn seconds(
        &self,
        var: &'static str,
        default: Duration,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        whole(var, self.get(var), default.as_secs(), range, " of seconds").map(Duration::from_secs)
    }

    fn flag(&self, var: &'static str) -> Result<bool, ConfigError> {
        match self.get(var).as_deref().map(str::to_ascii_lowercase) {
            None => Ok(false),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(_) => Err(bad(var, "use true or false")),
        }
    }
}

fn http(env: &Env) -> Result<HttpSettings, ConfigError> {
    let host = env
        .or("HOST", "0.0.0.0")
        .parse()
        .map_err(|_| bad("HOST", "not an IP address"))?;
    let port = env
        .or("PORT", "3000")
        .trim()
        .parse()
        .map_err(|_| bad("PORT", "not a port number (0-65535)"))?;
    let allowed_origins = env
        .get("ALLOWED_ORIGINS")
        .map(|list| {
            list.split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for origin in &allowed_origins {
        if origin != "*" && url::Url::parse(origin).is_err() {
            return Err(bad(
                "ALLOWED_ORIGINS",
                format!("{origin:?} is not an origin like https://chat.example.com"),
            ));
        }
    }
    let public_url = match env.get("PUBLIC_URL") {
        None => None,
        Some(text) => match url::Url::parse(&text) {
            Ok(url) if url.host_str().is_some() => Some(url),
            _ => {
                return Err(bad(
                    "PUBLIC_URL",
                    format!("{text:?} is not an address like https://chat.example.com"),
                ))
            }
        },
    };
    Ok(HttpSettings {
        host,
        port,
        origins: Arc::new(Origins::new(allowed_origins, public_url.as_ref())),
        public_url,
        metrics_token: env.get("METRICS_TOKEN").map(Into::into),
    })
}

fn sessions(env: &Env) -> Result<SessionSettings, ConfigError> {
    let cookie = env.or("SESSION_COOKIE", "JSESSIONID");
    if !cookie
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(bad(
            "SESSION_COOKIE",
            "use letters, digits, '_', '-' or '.'",
        ));
    }
    let ttl = env
        .or("SESSION_TTL_SECS", "604800")
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| bad("SESSION_TTL_SECS", "not a positive number of seconds"))?;
    Ok(SessionSettings {
        cookie,
        ttl,
        secure: env.flag("SECURE_COOKIES")?,
    })
}

fn accounts(env: &Env) -> Result<AccountSettings, ConfigError> {
    let database = match env.get("DATABASE_URL") {
        Some(url) => Some(database_url("DATABASE_URL", url)?),
        None => match env.get("VCAP_SERVICES") {
            Some(json) => vcap::postgres(&json)?,
            None => None,
        },
    };
    Ok(AccountSettings {
        database,
        guests: env.flag("ALLOW_GUESTS")?,
        admins: admins(env)?,
        sso: sso(env)?,
    })
}

/// `ADMINS`: handles, separated by commas (a leading `@` is allowed).
fn admins(env: &Env) -> Result<Vec<app::protocol::Handle>, ConfigError> {
    let Some(list) = env.get("ADMINS") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(|raw| raw.trim().trim_start_matches('@'))
        .filter(|raw| !raw.is_empty())
        .map(|raw| {
            app::protocol::Handle::parse(raw)
                .map_err(|e| bad("ADMINS", format!("{raw:?} is not a handle ({e})")))
        })
        .collect()
}

/// `OIDC_ISSUER_URL` with its client, else a bound SSO service (`VCAP_SERVICES`), else none.
fn sso(env: &Env) -> Result<Option<SsoSettings>, ConfigError> {
    let found = match env.get("OIDC_ISSUER_URL") {
        Some(issuer) => {
            let need = |var: &'static str| {
                env.get(var)
                    .ok_or_else(|| bad(var, "OIDC_ISSUER_URL is set: set this too"))
            };
            Some((issuer, need("OIDC_CLIENT_ID")?, need("OIDC_CLIENT_SECRET")?))
        }
        None => match env.get("VCAP_SERVICES") {
            Some(json) => vcap::sso(&json)?,
            None => None,
        },
    };
    let Some((issuer, client_id, client_secret)) = found else {
        return Ok(None);
    };
    let issuer = issuer.trim().to_owned();
    url::Url::parse(&issuer).map_err(|e| bad("OIDC_ISSUER_URL", format!("not a URL ({e})")))?;
    let base = env
        .get("OIDC_REDIRECT_BASE")
        .or_else(|| env.get("PUBLIC_URL"))
        .ok_or_else(|| {
            bad(
                "OIDC_REDIRECT_BASE",
                "single sign-on needs the address people reach the app at (or PUBLIC_URL)",
            )
        })?;
    let redirect_base = url::Url::parse(base.trim())
        .map_err(|e| bad("OIDC_REDIRECT_BASE", format!("not a URL ({e})")))?;
    Ok(Some(SsoSettings {
        issuer,
        client_id,
        client_secret: client_secret.into(),
        redirect_base,
        name: env.or("OIDC_PROVIDER_NAME", "single sign-on"),
    }))
}

fn database_url(var: &'static str, raw: String) -> Result<DatabaseUrl, ConfigError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(var, format!("not a URL ({e})")))?;
    match url.scheme() {
        "postgres" | "postgresql" => Ok(DatabaseUrl::new(raw.trim().to_owned())),
        other => Err(bad(
            var,
            format!("scheme {other:?} is not postgres:// or postgresql://"),
        )),
    }
}

fn store(env: &Env) -> Result<StoreSettings, ConfigError> {
    let redis = match (env.get("REDIS_URL"), env.get("REDIS_CLUSTER_URLS")) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "REDIS_CLUSTER_URLS",
                "REDIS_URL is set too: set one (REDIS_URL for one Redis, \
                 REDIS_CLUSTER_URLS for a cluster's seed nodes)",
            ))
        }
        (Some(url), None) => Some(RedisTarget::Single(redis_url("REDIS_URL", url)?)),
        (None, Some(list)) => Some(RedisTarget::Cluster(cluster_urls(&list)?)),
        (None, None) => match env.get("VCAP_SERVICES") {
            Some(json) => vcap::redis(&json)?,
            None => None,
        },
    };
    let d = StoreSettings::default();
    let history_max = match env.get("HISTORY_MAX") {
        None => d.history_max,
        Some(raw) => raw
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad("HISTORY_MAX", "not a positive whole number"))?,
    };
    const DAY: u64 = 24 * 3600;
    let room_idle = match env.get("ROOM_IDLE_SECS") {
        Some(_) => env.seconds("ROOM_IDLE_SECS", d.room_idle, 1..=u64::from(u32::MAX))?,
        None => {
            let days = env.count("ROOM_IDLE_DAYS", d.room_idle.as_secs() / DAY, 1..=3650)?;
            Duration::from_secs(days * DAY)
        }
    };
    Ok(StoreSettings {
        redis,
        prefix: env.or("REDIS_PREFIX", &d.prefix),
        history_max,
        room_idle,
        session_grace: env.seconds("SESSION_GRACE_SECS", d.session_grace, 1..=300)?,
    })
}

fn limits(env: &Env, on_cloud_foundry: bool) -> Result<Limits, ConfigError> {
    let d = Limits::default();
    Ok(Limits {
        messages: Rate::per_second(
            // Buckets count whole milliseconds: at most one token a millisecond.
            env.count(
                "RATE_MESSAGES_PER_SEC",
                d.messages.tokens_per_second(),
                1..=1_000,
            )?,
            env.count("RATE_MESSAGES_BURST", d.messages.burst, 1..=1_000_000)?,
        ),
        logins: {
            let per_min = env.count("RATE_LOGINS_PER_MIN", d.logins.burst, 1..=60_000)?;
            Rate::per_minute(per_min, per_min)
        },
        account_sign_ins: {
            let per_min = env.count("RATE_SIGNINS_PER_ACCOUNT_PER_MIN", 5, 1..=60_000)?;
            Rate::per_minute(per_min, per_min.saturating_mul(2))
        },
        sign_ups: {
            let per_hour = env.count("RATE_SIGNUPS_PER_HOUR", 20, 1..=1_000_000)?;
            Rate::per_hour(per_hour, per_hour.div_ceil(4))
        },
        sockets_per_user: env.count("MAX_SOCKETS_PER_USER", d.sockets_per_user, 1..=10_000)?,
        sockets: env.count("MAX_SOCKETS", d.sockets, 1..=10_000_000)?,
        proxy_hops: env.count("PROXY_HOPS", u32::from(on_cloud_foundry), 0..=8)? as usize,
    })
}

/// A whole number within `range` (`default` when unset); `unit` says in the error what it counts.
fn whole<T: FromStr + PartialOrd + fmt::Display>(
    var: &'static str,
    raw: Option<String>,
    default: T,
    range: RangeInclusive<T>,
    unit: &str,
) -> Result<T, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            bad(
                var,
                format!(
                    "not a whole number{unit} from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

fn redis_url(var: &'static str, raw: String) -> Result<RedisUrl, ConfigError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(var, format!("not a URL ({e})")))?;
    match url.scheme() {
        "redis" | "rediss" | "unix" | "redis+unix" => Ok(RedisUrl::new(raw.trim().to_owned())),
        other => Err(bad(
            var,
            format!("scheme {other:?} is not redis://, rediss:// or unix://"),
        )),
    }
}

/// `REDIS_CLUSTER_URLS`: seed node URLs separated by commas (or spaces).
fn cluster_urls(list: &str) -> Result<Vec<RedisUrl>, ConfigError> {
    const VAR: &str = "REDIS_CLUSTER_URLS";
    let urls = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(|part| redis_url(VAR, part.to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Err(bad(VAR, "no seed node URL"));
    }
    if let Some(unix) = urls
        .iter()
        .find(|u| u.expose().starts_with("unix") || u.expose().starts_with("redis+unix"))
    {
        return Err(bad(
            VAR,
            format!(
                "{} is a socket path: cluster nodes are addressed by host and port",
                unix.redacted()
            ),
        ));
    }
    Ok(urls)
}

#[cfg(test)]
mod tests;
