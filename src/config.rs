//! Configuration: read once from the environment into [`Config`] at start-up.
//!
//! Every variable is optional. A value that is present but wrong stops start-up with an error that
//! names the variable; nothing is silently replaced by a default. The Redis URL may hold a
//! password, so [`Config`]'s `Debug` output never shows it.

use crate::limits::Rate;
use crate::origin::Origins;
use std::{fmt, net::IpAddr, ops::RangeInclusive, str::FromStr, sync::Arc, time::Duration};

/// What one user, address or instance may do (see `docs/security.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages one user may send, across all their sockets and instances
    /// (`RATE_MESSAGES_PER_SEC`, default 10, with `RATE_MESSAGES_BURST`, default 20, at once).
    pub messages: Rate,
    /// Logins from one address (`RATE_LOGINS_PER_MIN`, default 10, all of them at once).
    pub logins: Rate,
    /// Sockets one user may have open on one instance (`MAX_SOCKETS_PER_USER`, default 20).
    pub sockets_per_user: u32,
    /// Sockets one instance takes (`MAX_SOCKETS`, default 50,000).
    pub sockets: u32,
    /// How many proxies in front add to `X-Forwarded-For` (`PROXY_HOPS`; default 1 on Cloud
    /// Foundry, whose router adds the client's address, else 0: the peer address is the
    /// client's). The client's address is the one that many entries from the right.
    pub proxy_hops: usize,
}

/// Everything the server needs to know about its environment.
#[derive(Clone)]
pub struct Config {
    /// Address to bind (`HOST`, default `0.0.0.0`: Cloud Foundry and containers route to it).
    pub host: IpAddr,
    /// Port to bind (`PORT`, default 3000; 0 picks a free one).
    pub port: u16,
    /// Where Redis is, if anywhere: `REDIS_URL` (one Redis), `REDIS_CLUSTER_URLS` (a Redis
    /// Cluster's seed nodes), else a Redis service in `VCAP_SERVICES`.
    pub redis: Option<RedisTarget>,
    /// Prefix for every Redis key and channel (`REDIS_PREFIX`, default `sb:`).
    pub redis_prefix: String,
    /// This instance's name, shown to users (`INSTANCE_ID`, else `CF_INSTANCE_INDEX`, else host:port).
    pub instance_id: Option<String>,
    /// Name of the session cookie (`SESSION_COOKIE`, default `JSESSIONID`).
    pub session_cookie: String,
    /// Sessions expire after this long without a request (`SESSION_TTL_SECS`, default 7 days).
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` on every response (`SECURE_COOKIES`), not only on https.
    pub secure_cookies: bool,
    /// Which sites may act with a user's cookie: the page's own (as addressed, or `PUBLIC_URL`)
    /// and `ALLOWED_ORIGINS` (comma-separated origins, or `*`). See [`crate::origin`].
    pub origins: Arc<Origins>,
    pub limits: Limits,
    /// The built bundle's name in `pkg/` (`LEPTOS_OUTPUT_NAME`, default `switchboard`; set by
    /// cargo-leptos).
    pub output_name: String,
    /// Leptos' development mode (`LEPTOS_ENV=dev`: live reload with `cargo leptos watch`).
    pub leptos_dev: bool,
    /// This machine's name (`HOSTNAME`, default `localhost`): with the port, the instance's
    /// name when neither `INSTANCE_ID` nor `CF_INSTANCE_INDEX` is set.
    pub hostname: String,
    /// How log lines are written (`LOG_FORMAT`: `text`, the default, or `json`).
    pub log_format: crate::telemetry::LogFormat,
    /// When set, `GET /metrics` needs `Authorization: Bearer <this>` (`METRICS_TOKEN`).
    pub metrics_token: Option<String>,
    /// The address users reach the app at (`PUBLIC_URL`, e.g. `https://chat.example.com`), when
    /// a proxy in front rewrites `Host`.
    pub public_url: Option<url::Url>,
    /// Where the built site (`pkg/`, assets) is (`LEPTOS_SITE_ROOT`, default `target/site`).
    pub site_root: String,
    /// How long a room without new messages keeps its history (`ROOM_IDLE_DAYS`, default 30;
    /// `ROOM_IDLE_SECS` overrides it, for tests): then the room's stream is deleted.
    pub room_idle: Duration,
    /// Messages kept per room (`HISTORY_MAX`, default 10,000; trimmed approximately).
    pub history_max: u64,
    /// How long a session id keeps working after `GET /` rotated it (`SESSION_GRACE_SECS`,
    /// default 10), so two tabs probing at once both stay logged in.
    pub session_grace: Duration,
    /// On SIGTERM, sockets are closed (1012) spread over this window (`DRAIN_SECS`, default 5,
    /// at most 9 to finish inside Cloud Foundry's 10 s before SIGKILL).
    pub drain: Duration,
    /// Seconds between heartbeat frames on a socket (`HEARTBEAT_SECS`, default 15).
    pub heartbeat: Duration,
    /// How presence is timed: `PRESENCE_TTL_SECS` (default 12: a dead instance's users are
    /// listed at most this long, plus a sweep) and `PRESENCE_GRACE_SECS` (default 5: a user
    /// whose last socket closed stays present this long, so a refresh or reconnect is silent).
    pub presence: crate::presence::Settings,
}

/// A Redis connection URL. Opaque in `Debug`/`Display` output because it may carry a password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without its password, for logs.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            Err(_) => "<unparseable redis url>".to_owned(),
        }
    }
}

/// The Redis deployment the backend talks to.
#[derive(Clone, PartialEq, Eq)]
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

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("redis", &self.redis)
            .field("redis_prefix", &self.redis_prefix)
            .field("instance_id", &self.instance_id)
            .field("session_cookie", &self.session_cookie)
            .field("session_ttl", &self.session_ttl)
            .field("secure_cookies", &self.secure_cookies)
            .field("origins", &self.origins)
            .field("public_url", &self.public_url)
            .field("log_format", &self.log_format)
            .field("limits", &self.limits)
            .field("output_name", &self.output_name)
            .field("leptos_dev", &self.leptos_dev)
            .field("hostname", &self.hostname)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<set>"),
            )
            .field("site_root", &self.site_root)
            .field("history_max", &self.history_max)
            .field("session_grace", &self.session_grace)
            .field("drain", &self.drain)
            .field("heartbeat", &self.heartbeat)
            .finish()
    }
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
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let parse = |var: &'static str, default: &str| -> Result<String, ConfigError> {
            Ok(get(var).unwrap_or_else(|| default.to_owned()))
        };

        let host = parse("HOST", "0.0.0.0")?
            .parse()
            .map_err(|_| bad("HOST", "not an IP address"))?;
        let port = parse("PORT", "3000")?
            .trim()
            .parse()
            .map_err(|_| bad("PORT", "not a port number (0-65535)"))?;

        let redis = match (get("REDIS_URL"), get("REDIS_CLUSTER_URLS")) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "REDIS_CLUSTER_URLS",
                    "REDIS_URL is set too: set one (REDIS_URL for one Redis, \
                     REDIS_CLUSTER_URLS for a cluster's seed nodes)",
                ))
            }
            (Some(url), None) => Some(RedisTarget::Single(redis_url("REDIS_URL", url)?)),
            (None, Some(list)) => Some(RedisTarget::Cluster(cluster_urls(&list)?)),
            (None, None) => match get("VCAP_SERVICES") {
                Some(json) => vcap_redis(&json)?,
                None => None,
            },
        };

        let instance_id = get("INSTANCE_ID").or_else(|| get("CF_INSTANCE_INDEX"));
        // The in-memory backend cannot be shared: several Cloud Foundry instances on it would
        // silently split the users into separate chats. The second and later refuse to start.
        let cf_index = get("CF_INSTANCE_INDEX").and_then(|i| i.trim().parse::<u32>().ok());
        if redis.is_none() && lookup("VCAP_APPLICATION").is_some() && cf_index.unwrap_or(0) > 0 {
            return Err(bad(
                "VCAP_SERVICES",
                "no Redis service is bound, and the in-memory backend serves one instance only: \
                 bind a Redis service (see docs/deploy.md) or scale to 1 instance",
            ));
        }

        let session_cookie = parse("SESSION_COOKIE", "JSESSIONID")?;
        if !session_cookie
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(bad(
                "SESSION_COOKIE",
                "use letters, digits, '_', '-' or '.'",
            ));
        }

        let session_ttl = Duration::from_secs(
            parse("SESSION_TTL_SECS", "604800")?
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| bad("SESSION_TTL_SECS", "not a positive number of seconds"))?,
        );

        let secure_cookies = match get("SECURE_COOKIES")
            .as_deref()
            .map(str::to_ascii_lowercase)
        {
            None => false,
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => true,
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => false,
            Some(_) => return Err(bad("SECURE_COOKIES", "use true or false")),
        };

        let allowed_origins = get("ALLOWED_ORIGINS")
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

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => crate::telemetry::LogFormat::Text,
            Some("json") => crate::telemetry::LogFormat::Json,
            Some(_) => return Err(bad("LOG_FORMAT", "use text or json")),
        };

        let public_url = match get("PUBLIC_URL") {
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

        let history_max = parse("HISTORY_MAX", "10000")?
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad("HISTORY_MAX", "not a positive whole number"))?;

        let seconds = |var: &'static str, default: u64, range: RangeInclusive<u64>| {
            whole(var, get(var), default, range, " of seconds").map(Duration::from_secs)
        };
        let session_grace = seconds("SESSION_GRACE_SECS", 10, 1..=300)?;
        let room_idle = match get("ROOM_IDLE_SECS") {
            Some(_) => seconds("ROOM_IDLE_SECS", 0, 1..=u64::from(u32::MAX))?,
            None => seconds("ROOM_IDLE_DAYS", 30, 1..=3650)? * 24 * 3600,
        };
        let drain = seconds("DRAIN_SECS", 5, 0..=9)?;
        let heartbeat = seconds("HEARTBEAT_SECS", app::protocol::HEARTBEAT_SECS, 1..=55)?;
        let presence = crate::presence::Settings {
            ttl: seconds("PRESENCE_TTL_SECS", 12, 3..=300)?,
            grace: seconds("PRESENCE_GRACE_SECS", 5, 1..=60)?,
        };

        let count = |var: &'static str, default: u32, range: RangeInclusive<u32>| {
            whole(var, get(var), default, range, "")
        };
        let on_cloud_foundry = lookup("VCAP_APPLICATION").is_some();
        let limits = Limits {
            messages: Rate::per_second(
                // Buckets count whole milliseconds: at most one token a millisecond.
                count("RATE_MESSAGES_PER_SEC", 10, 1..=1_000)?,
                count("RATE_MESSAGES_BURST", 20, 1..=1_000_000)?,
            ),
            logins: {
                let per_min = count("RATE_LOGINS_PER_MIN", 10, 1..=60_000)?;
                Rate::per_minute(per_min, per_min)
            },
            sockets_per_user: count("MAX_SOCKETS_PER_USER", 20, 1..=10_000)?,
            sockets: count("MAX_SOCKETS", 50_000, 1..=10_000_000)?,
            proxy_hops: count("PROXY_HOPS", u32::from(on_cloud_foundry), 0..=8)? as usize,
        };

        Ok(Self {
            host,
            port,
            redis,
            redis_prefix: parse("REDIS_PREFIX", "sb:")?,
            instance_id,
            session_cookie,
            session_ttl,
            secure_cookies,
            origins: Arc::new(Origins::new(allowed_origins, public_url.as_ref())),
            metrics_token: get("METRICS_TOKEN"),
            log_format,
            output_name: parse("LEPTOS_OUTPUT_NAME", "switchboard")?,
            leptos_dev: matches!(
                get("LEPTOS_ENV").map(|v| v.to_ascii_lowercase()).as_deref(),
                Some("dev" | "development")
            ),
            hostname: parse("HOSTNAME", "localhost")?,
            public_url,
            site_root: parse("LEPTOS_SITE_ROOT", "target/site")?,
            history_max,
            room_idle,
            session_grace,
            drain,
            heartbeat,
            presence,
            limits,
        })
    }
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
        "redis" | "rediss" | "unix" | "redis+unix" => Ok(RedisUrl(raw.trim().to_owned())),
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
        .find(|u| u.0.starts_with("unix") || u.0.starts_with("redis+unix"))
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

/// Finds a Redis service in Cloud Foundry's `VCAP_SERVICES`: the first whose tags or label mention
/// redis. Credentials come as a `uri`/`url`, or as `host` + `port` (number or string) + `password`,
/// with `tls_port` meaning TLS is on.
///
/// The binding is a **cluster** when its credentials list several nodes — `cluster_nodes` or
/// `nodes` (each `"host:port"` or `{"host", "port"}`, with the binding's `password` and `tls`), or
/// `uris` (URLs) — or when a `uri`/`host` binding says so with `"cluster_mode": true` (or
/// `cluster_enabled`), or with a `cluster` tag: its address is then a seed node.
fn vcap_redis(json: &str) -> Result<Option<RedisTarget>, ConfigError> {
    use serde_json::Value;
    const VAR: &str = "VCAP_SERVICES";
    let services: Value =
        serde_json::from_str(json).map_err(|e| bad(VAR, format!("not JSON ({e})")))?;
    let Some(groups) = services.as_object() else {
        return Err(bad(VAR, "expected a JSON object of service lists"));
    };
    let mentions_redis = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.to_ascii_lowercase().contains("redis"))
    };
    let binding = groups
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .find(|service| {
            service["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(mentions_redis))
                || mentions_redis(&service["label"])
        });
    let Some(binding) = binding else {
        return Ok(None);
    };
    let creds = &binding["credentials"];
    if let Some(uris) = creds["uris"].as_array() {
        let urls = uris
            .iter()
            .map(|u| match u.as_str() {
                Some(u) => redis_url(VAR, u.to_owned()),
                None => Err(bad(VAR, "the redis service's uris are not all strings")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !urls.is_empty() {
            return Ok(Some(RedisTarget::Cluster(urls)));
        }
    }
    if let Some(nodes) = creds["cluster_nodes"]
        .as_array()
        .or_else(|| creds["nodes"].as_array())
    {
        let urls = nodes
            .iter()
            .map(|node| vcap_node(creds, node))
            .collect::<Result<Vec<_>, _>>()?;
        if !urls.is_empty() {
            return Ok(Some(RedisTarget::Cluster(urls)));
        }
    }
    let is_cluster = creds["cluster_mode"].as_bool() == Some(true)
        || creds["cluster_enabled"].as_bool() == Some(true)
        || binding["tags"].as_array().is_some_and(|tags| {
            tags.iter().any(|t| {
                t.as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("cluster"))
            })
        });
    let url = match creds["uri"].as_str().or_else(|| creds["url"].as_str()) {
        Some(uri) => redis_url(VAR, uri.to_owned())?,
        None => vcap_host_port(creds)?,
    };
    Ok(Some(if is_cluster {
        RedisTarget::Cluster(vec![url])
    } else {
        RedisTarget::Single(url)
    }))
}

fn port_of(v: &serde_json::Value) -> Option<u16> {
    v.as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// One node of a cluster binding: `"host:port"` or `{"host", "port"}`, with the binding's
/// password and `tls` flag.
fn vcap_node(creds: &serde_json::Value, node: &serde_json::Value) -> Result<RedisUrl, ConfigError> {
    const VAR: &str = "VCAP_SERVICES";
    let (host, port) = match node.as_str() {
        Some(address) => {
            let (host, port) = address
                .rsplit_once(':')
                .ok_or_else(|| bad(VAR, format!("cluster node {address:?} is not host:port")))?;
            (host.to_owned(), port.trim().parse::<u16>().ok())
        }
        None => (
            node["host"].as_str().unwrap_or_default().to_owned(),
            port_of(&node["port"]),
        ),
    };
    let port = port.ok_or_else(|| bad(VAR, "a cluster node's port is missing or not a number"))?;
    if host.is_empty() {
        return Err(bad(VAR, "a cluster node has no host"));
    }
    let scheme = if creds["tls"].as_bool() == Some(true) {
        "rediss"
    } else {
        "redis"
    };
    with_password(creds, &format!("{scheme}://{host}:{port}"))
}

/// A `host` + `port` (or `tls_port`) + `password` binding as a URL.
fn vcap_host_port(creds: &serde_json::Value) -> Result<RedisUrl, ConfigError> {
    const VAR: &str = "VCAP_SERVICES";
    let host = creds["host"]
        .as_str()
        .or_else(|| creds["hostname"].as_str())
        .ok_or_else(|| {
            bad(
                VAR,
                "the redis service's credentials have no uri and no host",
            )
        })?;
    let (scheme, port) = match port_of(&creds["tls_port"]) {
        Some(port) => ("rediss", port),
        None => (
            "redis",
            port_of(&creds["port"])
                .ok_or_else(|| bad(VAR, "the redis service's port is missing or not a number"))?,
        ),
    };
    with_password(creds, &format!("{scheme}://{host}:{port}"))
}

/// `address` with the binding's password, if it has one.
fn with_password(creds: &serde_json::Value, address: &str) -> Result<RedisUrl, ConfigError> {
    const VAR: &str = "VCAP_SERVICES";
    let mut url = url::Url::parse(address)
        .map_err(|e| bad(VAR, format!("the redis service's host is not usable ({e})")))?;
    if let Some(password) = creds["password"].as_str().filter(|p| !p.is_empty()) {
        url.set_password(Some(password))
            .map_err(|_| bad(VAR, "the redis service's password cannot go in a URL"))?;
    }
    Ok(RedisUrl(url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn single(target: Option<RedisTarget>) -> String {
        match target {
            Some(RedisTarget::Single(url)) => url.expose().to_owned(),
            other => panic!("expected one Redis, got {other:?}"),
        }
    }

    fn cluster(target: Option<RedisTarget>) -> Vec<String> {
        match target {
            Some(RedisTarget::Cluster(urls)) => {
                urls.iter().map(|u| u.expose().to_owned()).collect()
            }
            other => panic!("expected a cluster, got {other:?}"),
        }
    }

    #[test]
    fn cluster_seed_nodes() {
        let c = config(&[(
            "REDIS_CLUSTER_URLS",
            "redis://:pw@10.0.0.1:7000, redis://:pw@10.0.0.2:7000",
        )])
        .unwrap();
        assert_eq!(
            cluster(c.redis.clone()),
            ["redis://:pw@10.0.0.1:7000", "redis://:pw@10.0.0.2:7000"]
        );
        assert!(!format!("{c:?}").contains("pw@"));
        let both = [
            ("REDIS_URL", "redis://a:6379"),
            ("REDIS_CLUSTER_URLS", "redis://b:7000"),
        ];
        assert_eq!(config(&both).unwrap_err().var, "REDIS_CLUSTER_URLS");
        for wrong in ["http://x:1", ",", "unix:///tmp/redis.sock"] {
            assert_eq!(
                config(&[("REDIS_CLUSTER_URLS", wrong)]).unwrap_err().var,
                "REDIS_CLUSTER_URLS",
                "{wrong}"
            );
        }
    }

    #[test]
    fn vcap_cluster_bindings() {
        let nodes = r#"{"redis":[{"label":"redis","credentials":{"password":"s3cret","tls":true,
            "cluster_nodes":["10.0.0.1:6379",{"host":"10.0.0.2","port":"6379"}]}}]}"#;
        assert_eq!(
            cluster(config(&[("VCAP_SERVICES", nodes)]).unwrap().redis),
            [
                "rediss://:s3cret@10.0.0.1:6379",
                "rediss://:s3cret@10.0.0.2:6379"
            ]
        );
        let uris = r#"{"user-provided":[{"label":"user-provided","tags":["redis"],
            "credentials":{"uris":["redis://a:7000","redis://b:7000"]}}]}"#;
        assert_eq!(
            cluster(config(&[("VCAP_SERVICES", uris)]).unwrap().redis),
            ["redis://a:7000", "redis://b:7000"]
        );
        let flagged = r#"{"redis":[{"label":"redis","credentials":{"uri":"redis://cfg:6379","cluster_mode":true}}]}"#;
        assert_eq!(
            cluster(config(&[("VCAP_SERVICES", flagged)]).unwrap().redis),
            ["redis://cfg:6379"]
        );
        let tagged = r#"{"redis":[{"label":"redis","tags":["redis","Cluster"],"credentials":{"host":"h","port":6379}}]}"#;
        assert_eq!(
            cluster(config(&[("VCAP_SERVICES", tagged)]).unwrap().redis),
            ["redis://h:6379"]
        );
        let broken = r#"{"redis":[{"label":"redis","credentials":{"cluster_nodes":["nohost"]}}]}"#;
        assert_eq!(
            config(&[("VCAP_SERVICES", broken)]).unwrap_err().var,
            "VCAP_SERVICES"
        );
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn several_cloud_foundry_instances_need_redis() {
        let cf = [("VCAP_APPLICATION", "{}"), ("CF_INSTANCE_INDEX", "1")];
        assert_eq!(config(&cf).unwrap_err().var, "VCAP_SERVICES");
        assert!(config(&[("VCAP_APPLICATION", "{}"), ("CF_INSTANCE_INDEX", "0")]).is_ok());
        let with_redis = [cf[0], cf[1], ("REDIS_URL", "redis://127.0.0.1:6379")];
        assert!(config(&with_redis).is_ok());
        // On Cloud Foundry the router is a proxy in front.
        assert_eq!(config(&cf[..1]).unwrap().limits.proxy_hops, 1);
        assert_eq!(config(&[]).unwrap().limits.proxy_hops, 0);
    }

    #[test]
    fn limits_and_formats_are_checked() {
        assert_eq!(
            config(&[("RATE_MESSAGES_PER_SEC", "0")]).unwrap_err().var,
            "RATE_MESSAGES_PER_SEC"
        );
        assert_eq!(
            config(&[("LOG_FORMAT", "xml")]).unwrap_err().var,
            "LOG_FORMAT"
        );
        assert_eq!(
            config(&[("PUBLIC_URL", "not a url")]).unwrap_err().var,
            "PUBLIC_URL"
        );
        let limits = config(&[("RATE_MESSAGES_PER_SEC", "5"), ("RATE_MESSAGES_BURST", "7")])
            .unwrap()
            .limits;
        assert_eq!(limits.messages, crate::limits::Rate::per_second(5, 7));
    }

    #[test]
    fn defaults_need_nothing() {
        let c = config(&[]).unwrap();
        assert_eq!(c.port, 3000);
        assert!(c.redis.is_none());
        assert_eq!(c.session_cookie, "JSESSIONID");
        assert_eq!(c.session_ttl, Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn a_wrong_value_names_its_variable() {
        assert_eq!(config(&[("PORT", "eighty")]).unwrap_err().var, "PORT");
        assert_eq!(
            config(&[("REDIS_URL", "http://x")]).unwrap_err().var,
            "REDIS_URL"
        );
        assert_eq!(
            config(&[("VCAP_SERVICES", "{")]).unwrap_err().var,
            "VCAP_SERVICES"
        );
        assert_eq!(
            config(&[("ALLOWED_ORIGINS", "nope")]).unwrap_err().var,
            "ALLOWED_ORIGINS"
        );
    }

    #[test]
    fn the_password_never_shows() {
        let c = config(&[("REDIS_URL", "redis://:hunter2@db:6379")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(single(c.redis), "redis://:hunter2@db:6379");
    }

    #[test]
    fn vcap_uri_binding() {
        let vcap = r#"{"p-redis":[{"label":"p-redis","tags":["pivotal"],"credentials":{"uri":"redis://:pw@10.0.0.5:6379"}}]}"#;
        let c = config(&[("VCAP_SERVICES", vcap)]).unwrap();
        assert_eq!(single(c.redis), "redis://:pw@10.0.0.5:6379");
    }

    #[test]
    fn vcap_host_port_binding_with_string_port_and_tls() {
        let vcap = r#"{"user-provided":[{"label":"user-provided","tags":["Redis","cache"],
            "credentials":{"host":"cache.internal","port":"6380","password":"p@ss"}}]}"#;
        let c = config(&[("VCAP_SERVICES", vcap)]).unwrap();
        assert_eq!(single(c.redis), "redis://:p%40ss@cache.internal:6380");

        let tls = r#"{"redis":[{"label":"redis","credentials":{"host":"h","port":6379,"tls_port":6380,"password":"x"}}]}"#;
        let c = config(&[("VCAP_SERVICES", tls)]).unwrap();
        assert_eq!(single(c.redis), "rediss://:x@h:6380");
    }

    #[test]
    fn vcap_without_redis_means_memory() {
        let vcap = r#"{"postgres":[{"label":"postgres","credentials":{"uri":"postgres://x"}}]}"#;
        assert!(config(&[("VCAP_SERVICES", vcap)]).unwrap().redis.is_none());
    }

    #[test]
    fn redis_url_wins_over_vcap() {
        let vcap = r#"{"redis":[{"label":"redis","credentials":{"uri":"redis://vcap:6379"}}]}"#;
        let c = config(&[("VCAP_SERVICES", vcap), ("REDIS_URL", "redis://env:6379")]).unwrap();
        assert_eq!(single(c.redis), "redis://env:6379");
    }
}
