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
        Some(RedisTarget::Cluster(urls)) => urls.iter().map(|u| u.expose().to_owned()).collect(),
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
        cluster(c.store.redis.clone()),
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
        cluster(config(&[("VCAP_SERVICES", nodes)]).unwrap().store.redis),
        [
            "rediss://:s3cret@10.0.0.1:6379",
            "rediss://:s3cret@10.0.0.2:6379"
        ]
    );
    let uris = r#"{"user-provided":[{"label":"user-provided","tags":["redis"],
        "credentials":{"uris":["redis://a:7000","redis://b:7000"]}}]}"#;
    assert_eq!(
        cluster(config(&[("VCAP_SERVICES", uris)]).unwrap().store.redis),
        ["redis://a:7000", "redis://b:7000"]
    );
    let flagged = r#"{"redis":[{"label":"redis","credentials":{"uri":"redis://cfg:6379","cluster_mode":true}}]}"#;
    assert_eq!(
        cluster(config(&[("VCAP_SERVICES", flagged)]).unwrap().store.redis),
        ["redis://cfg:6379"]
    );
    let tagged = r#"{"redis":[{"label":"redis","tags":["redis","Cluster"],"credentials":{"host":"h","port":6379}}]}"#;
    assert_eq!(
        cluster(config(&[("VCAP_SERVICES", tagged)]).unwrap().store.redis),
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
    assert_eq!(limits.messages, crate::rate::Rate::per_second(5, 7));
}

#[test]
fn defaults_need_nothing() {
    let c = config(&[]).unwrap();
    assert_eq!(c.http.port, 3000);
    assert!(c.store.redis.is_none());
    assert_eq!(c.sessions.cookie, "JSESSIONID");
    assert_eq!(c.sessions.ttl, Duration::from_secs(7 * 24 * 3600));
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
fn secrets_never_show() {
    let c = config(&[
        ("REDIS_URL", "redis://:hunter2@db:6379"),
        ("METRICS_TOKEN", "swordfish"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("swordfish"),
        "{shown}"
    );
    // Everything else does: the settings derive Debug, so no field is left out by hand.
    assert!(
        shown.contains("redis://:***@db:6379") && shown.contains("room_idle"),
        "{shown}"
    );
    assert_eq!(single(c.store.redis), "redis://:hunter2@db:6379");
}

#[test]
fn vcap_uri_binding() {
    let vcap = r#"{"p-redis":[{"label":"p-redis","tags":["pivotal"],"credentials":{"uri":"redis://:pw@10.0.0.5:6379"}}]}"#;
    let c = config(&[("VCAP_SERVICES", vcap)]).unwrap();
    assert_eq!(single(c.store.redis), "redis://:pw@10.0.0.5:6379");
}

#[test]
fn vcap_host_port_binding_with_string_port_and_tls() {
    let vcap = r#"{"user-provided":[{"label":"user-provided","tags":["Redis","cache"],
        "credentials":{"host":"cache.internal","port":"6380","password":"p@ss"}}]}"#;
    let c = config(&[("VCAP_SERVICES", vcap)]).unwrap();
    assert_eq!(single(c.store.redis), "redis://:p%40ss@cache.internal:6380");

    let tls = r#"{"redis":[{"label":"redis","credentials":{"host":"h","port":6379,"tls_port":6380,"password":"x"}}]}"#;
    let c = config(&[("VCAP_SERVICES", tls)]).unwrap();
    assert_eq!(single(c.store.redis), "rediss://:x@h:6380");
}

#[test]
fn vcap_without_redis_means_memory() {
    let vcap = r#"{"postgres":[{"label":"postgres","credentials":{"uri":"postgres://x"}}]}"#;
    assert!(config(&[("VCAP_SERVICES", vcap)])
        .unwrap()
        .store
        .redis
        .is_none());
}

#[test]
fn redis_url_wins_over_vcap() {
    let vcap = r#"{"redis":[{"label":"redis","credentials":{"uri":"redis://vcap:6379"}}]}"#;
    let c = config(&[("VCAP_SERVICES", vcap), ("REDIS_URL", "redis://env:6379")]).unwrap();
    assert_eq!(single(c.store.redis), "redis://env:6379");
}

fn database(c: &Config) -> Option<String> {
    c.accounts
        .database
        .as_ref()
        .map(|url| url.expose().to_owned())
}

#[test]
fn accounts_go_to_postgres_when_one_is_bound() {
    assert_eq!(database(&config(&[]).unwrap()), None, "memory by default");
    let c = config(&[("DATABASE_URL", "postgres://app:pw@db:5432/chat")]).unwrap();
    assert_eq!(
        database(&c).as_deref(),
        Some("postgres://app:pw@db:5432/chat")
    );
    assert!(
        !format!("{c:?}").contains(":pw@"),
        "the password never shows"
    );
    assert_eq!(
        config(&[("DATABASE_URL", "mysql://db/chat")])
            .unwrap_err()
            .var,
        "DATABASE_URL"
    );

    let uri = r#"{"elephantsql":[{"label":"elephantsql","tags":["postgres"],"credentials":{"uri":"postgres://u:p@pg.example:5432/app"}}]}"#;
    let c = config(&[("VCAP_SERVICES", uri)]).unwrap();
    assert_eq!(
        database(&c).as_deref(),
        Some("postgres://u:p@pg.example:5432/app")
    );
    let parts = r#"{"csb-aws-postgresql":[{"label":"csb-aws-postgresql","tags":["postgresql"],
        "credentials":{"hostname":"pg.internal","port":"5433","username":"sb","password":"p@ss","name":"chat"}}]}"#;
    let c = config(&[("VCAP_SERVICES", parts)]).unwrap();
    assert_eq!(
        database(&c).as_deref(),
        Some("postgres://sb:p%40ss@pg.internal:5433/chat")
    );
    // The variable wins over the binding.
    let c = config(&[
        ("VCAP_SERVICES", uri),
        ("DATABASE_URL", "postgres://env/db"),
    ])
    .unwrap();
    assert_eq!(database(&c).as_deref(), Some("postgres://env/db"));
}

#[test]
fn guests_are_off_unless_allowed() {
    assert!(!config(&[]).unwrap().accounts.guests);
    assert!(config(&[("ALLOW_GUESTS", "true")]).unwrap().accounts.guests);
    assert_eq!(
        config(&[("ALLOW_GUESTS", "maybe")]).unwrap_err().var,
        "ALLOW_GUESTS"
    );
}

#[test]
fn single_sign_on_is_configured_by_environment_or_binding() {
    assert!(config(&[]).unwrap().accounts.sso.is_none());
    let env = [
        ("OIDC_ISSUER_URL", "https://id.example.com/realms/team"),
        ("OIDC_CLIENT_ID", "switchboard"),
        ("OIDC_CLIENT_SECRET", "s3cret"),
        ("PUBLIC_URL", "https://chat.example.com"),
    ];
    let c = config(&env).unwrap();
    let sso = c.accounts.sso.as_ref().expect("configured");
    assert_eq!(
        sso.issuer, "https://id.example.com/realms/team",
        "kept exactly"
    );
    assert_eq!(sso.redirect_base.as_str(), "https://chat.example.com/");
    assert_eq!(sso.name, "single sign-on");
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "the secret never shows"
    );
    assert_eq!(
        config(&env[..2]).unwrap_err().var,
        "OIDC_CLIENT_SECRET",
        "a half-configured provider names what is missing"
    );
    assert_eq!(config(&env[..3]).unwrap_err().var, "OIDC_REDIRECT_BASE");

    let uaa = r#"{"p-identity":[{"label":"p-identity","credentials":{"auth_domain":"https://team.login.sys.example.com","client_id":"cid","client_secret":"cs"}}]}"#;
    let c = config(&[
        ("VCAP_SERVICES", uaa),
        ("PUBLIC_URL", "https://chat.example.com"),
    ])
    .unwrap();
    let sso = c.accounts.sso.expect("bound");
    assert_eq!(sso.issuer, "https://team.login.sys.example.com/oauth/token");
    assert_eq!(sso.client_id, "cid");
}
