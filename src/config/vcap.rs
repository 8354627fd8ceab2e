//! Cloud Foundry's `VCAP_SERVICES`: the Redis and PostgreSQL services bound to the app, as typed
//! structs.
//!
//! **PostgreSQL**: the first service whose tags or label mention postgres; its credentials'
//! `uri` (or `url`), else `host` (or `hostname`) + `port` + `username` + `password` + `name`
//! (or `database`, `db_name`).
//!
//! **Redis**:
//! The first service whose tags or label mention redis is the binding. Its credentials come as a
//! `uri`/`url`, or as `host` + `port` (number or string) + `password`, with `tls_port` meaning TLS
//! is on. The binding is a **cluster** when its credentials list several nodes — `cluster_nodes`
//! or `nodes` (each `"host:port"` or `{"host", "port"}`, with the binding's `password` and `tls`),
//! or `uris` (URLs) — or when a `uri`/`host` binding says so with `"cluster_mode": true` (or
//! `cluster_enabled`), or with a `cluster` tag: its address is then a seed node.

use super::{bad, database_url, redis_url, ConfigError};
use crate::settings::{DatabaseUrl, RedisTarget, RedisUrl};
use serde::{de::IgnoredAny, Deserialize};
use std::collections::BTreeMap;

const VAR: &str = "VCAP_SERVICES";

/// One kind of service: a list of bindings, or something else this app does not read.
#[derive(Deserialize)]
#[serde(untagged)]
enum Group {
    Services(Vec<Service>),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct Service {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    /// Read as [`Credentials`] only for the Redis binding: another service's may be any shape.
    #[serde(default)]
    credentials: serde_json::Value,
}

impl Service {
    fn is_redis(&self) -> bool {
        let mentions = |s: &str| s.to_ascii_lowercase().contains("redis");
        self.tags.iter().any(|t| mentions(t)) || self.label.as_deref().is_some_and(mentions)
    }

    fn is_postgres(&self) -> bool {
        let mentions = |s: &str| s.to_ascii_lowercase().contains("postgres");
        self.tags.iter().any(|t| mentions(t)) || self.label.as_deref().is_some_and(mentions)
    }

    fn tagged_cluster(&self) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case("cluster"))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Credentials {
    uri: Option<String>,
    url: Option<String>,
    uris: Option<Vec<String>>,
    cluster_nodes: Option<Vec<Node>>,
    nodes: Option<Vec<Node>>,
    host: Option<String>,
    hostname: Option<String>,
    port: Option<Port>,
    tls_port: Option<Port>,
    password: Option<String>,
    tls: Option<bool>,
    cluster_mode: Option<bool>,
    cluster_enabled: Option<bool>,
}

/// A cluster node: `"host:port"` or `{"host", "port"}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Node {
    Address(String),
    Parts {
        #[serde(default)]
        host: String,
        #[serde(default)]
        port: Option<Port>,
    },
}

/// Brokers write ports as numbers or as strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Port {
    Number(u64),
    Text(String),
}

impl Port {
    fn number(&self) -> Option<u16> {
        match self {
            Port::Number(n) => u16::try_from(*n).ok(),
            Port::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// Every service bound in `json`.
fn services(json: &str) -> Result<Vec<Service>, ConfigError> {
    let groups: BTreeMap<String, Group> = serde_json::from_str(json).map_err(|e| {
        bad(
            VAR,
            format!("expected a JSON object of service lists ({e})"),
        )
    })?;
    Ok(groups
        .into_values()
        .filter_map(|group| match group {
            Group::Services(services) => Some(services),
            Group::Other(_) => None,
        })
        .flatten()
        .collect())
}

/// A PostgreSQL binding's credentials.
#[derive(Deserialize, Default)]
#[serde(default)]
struct PgCredentials {
    uri: Option<String>,
    url: Option<String>,
    host: Option<String>,
    hostname: Option<String>,
    port: Option<Port>,
    username: Option<String>,
    user: Option<String>,
    password: Option<String>,
    name: Option<String>,
    database: Option<String>,
    db_name: Option<String>,
}

/// The PostgreSQL binding in `json`, if there is one.
pub fn postgres(json: &str) -> Result<Option<DatabaseUrl>, ConfigError> {
    let Some(binding) = services(json)?.into_iter().find(Service::is_postgres) else {
        return Ok(None);
    };
    let creds = PgCredentials::deserialize(&binding.credentials)
        .map_err(|e| bad(VAR, format!("the postgres service's credentials: {e}")))?;
    if let Some(uri) = creds.uri.or(creds.url) {
        return database_url(VAR, uri).map(Some);
    }
    let host = creds.host.or(creds.hostname).ok_or_else(|| {
        bad(
            VAR,
            "the postgres service's credentials have no uri and no host",
        )
    })?;
    let port = creds.port.as_ref().and_then(Port::number).unwrap_or(5432);
    let mut url = url::Url::parse(&format!("postgres://{host}:{port}")).map_err(|e| {
        bad(
            VAR,
            format!("the postgres service's host is not usable ({e})"),
        )
    })?;
    let unusable = |_| {
        bad(
            VAR,
            "the postgres service's user or password cannot go in a URL",
        )
    };
    if let Some(user) = creds.username.or(creds.user) {
        url.set_username(&user).map_err(unusable)?;
    }
    if let Some(password) = creds.password.filter(|p| !p.is_empty()) {
        url.set_password(Some(&password)).map_err(unusable)?;
    }
    if let Some(database) = creds.name.or(creds.database).or(creds.db_name) {
        url.set_path(&database);
    }
    Ok(Some(DatabaseUrl::new(url.to_string())))
}

/// A single sign-on binding's credentials (Cloud Foundry's SSO tile, UAA, or a user-provided
/// service): an `issuer` (or `auth_domain`, whose issuer is `<auth_domain>/oauth/token`), and
/// the client.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SsoCredentials {
    issuer: Option<String>,
    issuer_url: Option<String>,
    auth_domain: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The single sign-on binding in `json` (a service whose tags or label mention identity, sso,
/// uaa or oidc), as (issuer, client id, client secret).
pub fn sso(json: &str) -> Result<Option<(String, String, String)>, ConfigError> {
    let is_sso = |service: &Service| {
        let mentions = |s: &str| {
            let s = s.to_ascii_lowercase();
            ["identity", "sso", "uaa", "oidc"]
                .iter()
                .any(|w| s.contains(w))
        };
        service.tags.iter().any(|t| mentions(t)) || service.label.as_deref().is_some_and(mentions)
    };
    let Some(binding) = services(json)?.into_iter().find(is_sso) else {
        return Ok(None);
    };
    let creds = SsoCredentials::deserialize(&binding.credentials)
        .map_err(|e| bad(VAR, format!("the sso service's credentials: {e}")))?;
    let issuer = creds
        .issuer
        .or(creds.issuer_url)
        .or_else(|| {
            creds
                .auth_domain
                .map(|d| format!("{}/oauth/token", d.trim_end_matches('/')))
        })
        .ok_or_else(|| {
            bad(
                VAR,
                "the sso service's credentials have no issuer or auth_domain",
            )
        })?;
    let need = |v: Option<String>, what: &str| {
        v.ok_or_else(|| bad(VAR, format!("the sso service's credentials have no {what}")))
    };
    Ok(Some((
        issuer,
        need(creds.client_id, "client_id")?,
        need(creds.client_secret, "client_secret")?,
    )))
}

/// The Redis binding in `json`, if there is one.
pub fn redis(json: &str) -> Result<Option<RedisTarget>, ConfigError> {
    let Some(binding) = services(json)?.into_iter().find(Service::is_redis) else {
        return Ok(None);
    };
    let creds = Credentials::deserialize(&binding.credentials)
        .map_err(|e| bad(VAR, format!("the redis service's credentials: {e}")))?;

    if let Some(uris) = creds.uris.as_ref().filter(|uris| !uris.is_empty()) {
        let urls = uris
            .iter()
            .map(|u| redis_url(VAR, u.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(RedisTarget::Cluster(urls)));
    }
    let nodes = creds.cluster_nodes.as_ref().or(creds.nodes.as_ref());
    if let Some(nodes) = nodes.filter(|nodes| !nodes.is_empty()) {
        let urls = nodes
            .iter()
            .map(|node| creds.node(node))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(RedisTarget::Cluster(urls)));
    }
    let is_cluster = creds.cluster_mode == Some(true)
        || creds.cluster_enabled == Some(true)
        || binding.tagged_cluster();
    let url = match creds.uri.as_ref().or(creds.url.as_ref()) {
        Some(uri) => redis_url(VAR, uri.clone())?,
        None => creds.host_port()?,
    };
    Ok(Some(if is_cluster {
        RedisTarget::Cluster(vec![url])
    } else {
        RedisTarget::Single(url)
    }))
}

impl Credentials {
    /// One node of a cluster binding, with the binding's password and `tls` flag.
    fn node(&self, node: &Node) -> Result<RedisUrl, ConfigError> {
        let (host, port) = match node {
            Node::Address(address) => {
                let (host, port) = address.rsplit_once(':').ok_or_else(|| {
                    bad(VAR, format!("cluster node {address:?} is not host:port"))
                })?;
                (host, port.trim().parse::<u16>().ok())
            }
            Node::Parts { host, port } => (host.as_str(), port.as_ref().and_then(Port::number)),
        };
        let port =
            port.ok_or_else(|| bad(VAR, "a cluster node's port is missing or not a number"))?;
        if host.is_empty() {
            return Err(bad(VAR, "a cluster node has no host"));
        }
        let scheme = if self.tls == Some(true) {
            "rediss"
        } else {
            "redis"
        };
        self.with_password(&format!("{scheme}://{host}:{port}"))
    }

    /// A `host` + `port` (or `tls_port`) + `password` binding as a URL.
    fn host_port(&self) -> Result<RedisUrl, ConfigError> {
        let host = self
            .host
            .as_ref()
            .or(self.hostname.as_ref())
            .ok_or_else(|| {
                bad(
                    VAR,
                    "the redis service's credentials have no uri and no host",
                )
            })?;
        let (scheme, port) = match self.tls_port.as_ref().and_then(Port::number) {
            Some(port) => ("rediss", port),
            None => (
                "redis",
                self.port.as_ref().and_then(Port::number).ok_or_else(|| {
                    bad(VAR, "the redis service's port is missing or not a number")
                })?,
            ),
        };
        self.with_password(&format!("{scheme}://{host}:{port}"))
    }

    /// `address` with the binding's password, if it has one.
    fn with_password(&self, address: &str) -> Result<RedisUrl, ConfigError> {
        let mut url = url::Url::parse(address)
            .map_err(|e| bad(VAR, format!("the redis service's host is not usable ({e})")))?;
        if let Some(password) = self.password.as_deref().filter(|p| !p.is_empty()) {
            url.set_password(Some(password))
                .map_err(|_| bad(VAR, "the redis service's password cannot go in a URL"))?;
        }
        Ok(RedisUrl::new(url.to_string()))
    }
}
