//! Integration tests: real `switchboard` processes, a real `redis-server`, a real PostgreSQL
//! ([`postgres`]), real sockets.
//!
//! Behaviour every backend must have is written once as an `async fn(&World)` and run three
//! times by [`backends!`]: against one Redis (two instances sharing it), against a 3-master Redis
//! Cluster (two instances sharing it), and against the in-memory backend (one instance). Tests
//! that are about crossing instances run against Redis only; the cluster's own faults are in
//! [`cluster`].

mod cluster;
mod helpers;
mod oidc;
mod postgres;

use app::protocol::{ErrorCode, MessageKind, ServerMsg};
use helpers::{Browser, Instance, RedisServer, Seen};
use serde_json::json;

/// One isolated deployment: its own Redis or Redis Cluster (if any) and its instances.
pub struct World {
    _redis: Option<RedisServer>,
    _cluster: Option<cluster::RedisCluster>,
    pub a: Instance,
    /// A second instance on the same Redis; with the in-memory backend, the same as `a`.
    b: Option<Instance>,
}

impl World {
    fn redis() -> Self {
        Self::redis_with(&[])
    }

    fn redis_with(env: &[(&str, &str)]) -> Self {
        let redis = RedisServer::start();
        let a = Instance::start_with("a", Some(&redis.url()), env);
        let b = Instance::start_with("b", Some(&redis.url()), env);
        Self {
            _redis: Some(redis),
            _cluster: None,
            a,
            b: Some(b),
        }
    }

    /// Two instances on a 3-master cluster (no replicas: the behaviour is the same, the faults
    /// with replicas are tested in [`cluster`]).
    fn cluster_with(env: &[(&str, &str)]) -> Self {
        let cluster = cluster::RedisCluster::start(3, 0);
        let urls = cluster.urls();
        let mut env = env.to_vec();
        env.push(("REDIS_CLUSTER_URLS", &urls));
        let a = Instance::start_with("a", None, &env);
        let b = Instance::start_with("b", None, &env);
        Self {
            _redis: None,
            _cluster: Some(cluster),
            a,
            b: Some(b),
        }
    }

    fn memory_with(env: &[(&str, &str)]) -> Self {
        Self {
            _redis: None,
            _cluster: None,
            a: Instance::start_with("solo", None, env),
            b: None,
        }
    }

    pub fn b(&self) -> &Instance {
        self.b.as_ref().unwrap_or(&self.a)
    }
}

/// Runs behavioural tests (each an `async fn(&World)`) against every backend, optionally with
/// extra environment for the instances: `backends!(env = &[("VAR", "value")]; test_a, test_b)`.
macro_rules! backends {
    ($($name:ident),* $(,)?) => { backends!(env = &[]; $($name),*); };
    (env = $env:expr; $($name:ident),* $(,)?) => {
        mod redis_backend {
            $(#[tokio::test] async fn $name() { super::$name(&crate::World::redis_with($env)).await })*
        }
        mod cluster_backend {
            $(#[tokio::test] async fn $name() { super::$name(&crate::World::cluster_with($env)).await })*
        }
        mod memory_backend {
            $(#[tokio::test] async fn $name() { super::$name(&crate::World::memory_with($env)).await })*
        }
    };
}

mod accounts;
mod amendments;
mod assets;
mod conversations;
mod events;
mod faults;
mod hostile;
mod limits;
mod loadgen;
mod memberships;
mod metrics;
mod paging;
mod presence;
mod read_marks;
mod resume;
mod rooms;
mod rotation;
mod typing;

backends!(
    login_sets_an_httponly_session_cookie,
    socket_needs_a_logged_in_session,
    invalid_names_are_refused_with_a_clear_error,
    logout_kills_the_session_on_the_server,
    the_server_decides_who_sent_a_message,
    bad_frames_get_errors_and_the_socket_stays,
    every_send_is_acked_and_a_resend_is_stored_once,
    one_users_client_id_cannot_swallow_anothers_message,
    a_new_socket_gets_recent_history,
    the_page_renders_for_the_session,
    cookies_are_secure_behind_https,
    foreign_origins_cannot_open_sockets,
);

pub async fn logged_in(instance: &Instance, name: &str) -> Browser {
    let mut browser = Browser::new();
    let response = browser.login(instance, name).await;
    assert_eq!(response.status, 200, "login failed: {}", response.body);
    browser
}

async fn login_sets_an_httponly_session_cookie(world: &World) {
    let mut browser = Browser::new();
    let response = browser.login(&world.a, "  alice ").await;
    assert_eq!(response.status, 200);
    let user = response.json();
    assert_eq!(user["name"], "alice", "the name is trimmed");
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());

    let cookie = response
        .set_cookies
        .iter()
        .find(|c| c.starts_with("JSESSIONID="))
        .expect("a JSESSIONID cookie");
    let attributes: Vec<String> = cookie
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attributes.contains(&"httponly".to_owned()), "{cookie}");
    assert!(attributes.contains(&"samesite=lax".to_owned()), "{cookie}");
    assert!(attributes.contains(&"path=/".to_owned()), "{cookie}");

    let whoami = browser
        .request(
            reqwest::Method::POST,
            &format!("{}/api/whoami", world.b().base),
            Some(&[]),
        )
        .await;
    assert_eq!(
        whoami.json()["user"]["name"],
        "alice",
        "the session is shared by instances"
    );
}

async fn socket_needs_a_logged_in_session(world: &World) {
    let anonymous = Browser::new();
    assert_eq!(
        anonymous.connect(&world.a, "room=lobby").await.err(),
        Some(401)
    );

    let mut forged = Browser::new();
    forged.cookie = Some("JSESSIONID=AAAAAAAAAAAAAAAAAAAAAA".to_owned());
    assert_eq!(
        forged.connect(&world.a, "room=lobby").await.err(),
        Some(401)
    );

    let browser = logged_in(&world.a, "alice").await;
    let mut socket = browser
        .connect(world.b(), "room=lobby")
        .await
        .expect("upgrade");
    let (instance, user) = socket
        .wait_for("hello", |f| match f {
            ServerMsg::Hello { instance, user, .. } => Some((instance.clone(), user.clone())),
            _ => None,
        })
        .await;
    assert_eq!(instance, world.b().name);
    assert_eq!(user.name.as_str(), "alice");
}

async fn invalid_names_are_refused_with_a_clear_error(world: &World) {
    for (name, reason) in [
        ("", "empty"),
        ("   ", "empty"),
        (&"x".repeat(33), "too_long"),
        ("bell\u{7}", "forbidden_character"),
        ("abc\u{202E}def", "forbidden_character"),
    ] {
        let mut browser = Browser::new();
        let response = browser.login(&world.a, name).await;
        assert_eq!(response.status, 400, "{name:?}: {}", response.body);
        assert_eq!(
            response.json(),
            json!({"error": "invalid_name", "reason": reason}),
            "{name:?}"
        );
        assert!(browser.cookie.is_none(), "no session for a refused login");
    }
    let mut browser = Browser::new();
    assert_eq!(browser.login(&world.a, &"é".repeat(32)).await.status, 200);
}

async fn logout_kills_the_session_on_the_server(world: &World) {
    let mut browser = logged_in(&world.a, "alice").await;
    let stolen = browser.cookie.clone();
    assert!(browser.connect(&world.a, "room=lobby").await.is_ok());

    let response = browser.logout(&world.a).await;
    assert_eq!(response.status, 200, "{}", response.body);

    // Even someone who kept the cookie cannot use it any more, on any instance.
    let mut thief = Browser::new();
    thief.cookie = stolen;
    assert_eq!(
        thief.connect(world.b(), "room=lobby").await.err(),
        Some(401)
    );
    let whoami = thief
        .request(
            reqwest::Method::POST,
            &format!("{}/api/whoami", world.a.base),
            Some(&[]),
        )
        .await;
    assert_eq!(whoami.json()["user"], serde_json::Value::Null);
}

async fn the_server_decides_who_sent_a_message(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut alice_socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    let mut bob_socket = bob.connect(world.b(), "room=lobby").await.unwrap();
    let alice_id = alice_socket
        .wait_for("hello", |f| match f {
            ServerMsg::Hello { user, .. } => Some(user.id),
            _ => None,
        })
        .await;

    alice_socket
        .send_json(json!({
            "type": "send", "room": "lobby", "text": "it's really me",
            "client_id": uuid::Uuid::new_v4(),
            "user": {"id": uuid::Uuid::new_v4(), "name": "mallory"}, "name": "mallory",
        }))
        .await;
    let message = bob_socket
        .wait_for("alice's message", |f| match f {
            ServerMsg::Message(m) if m.kind == MessageKind::Text => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(message.text, "it's really me");
    assert_eq!(message.user.name.as_str(), "alice");
    assert_eq!(message.user.id, alice_id);
    assert_eq!(message.at, message.id.ms);
}

async fn bad_frames_get_errors_and_the_socket_stays(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    let error_code = |f: &ServerMsg| match f {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    };

    socket.send_text("{not json".to_owned()).await;
    assert_eq!(
        socket.wait_for("bad_frame", error_code).await,
        ErrorCode::BadFrame
    );

    socket.send_json(json!({"type": "teleport"})).await;
    assert_eq!(
        socket.wait_for("bad_frame", error_code).await,
        ErrorCode::BadFrame
    );

    socket.say(&"x".repeat(20_000)).await;
    assert_eq!(
        socket.wait_for("too_large", error_code).await,
        ErrorCode::TooLarge
    );

    socket.say(&"x".repeat(2_001)).await;
    assert_eq!(
        socket.wait_for("invalid_text", error_code).await,
        ErrorCode::InvalidText
    );

    socket.say("   ").await;
    assert_eq!(
        socket.wait_for("invalid_text", error_code).await,
        ErrorCode::InvalidText
    );

    socket
        .send_json(json!({"type": "send", "room": "elsewhere", "text": "hi", "client_id": uuid::Uuid::new_v4()}))
        .await;
    assert_eq!(
        socket.wait_for("wrong_room", error_code).await,
        ErrorCode::WrongRoom
    );

    // Still open and working.
    let client_id = socket.say("still here").await;
    socket
        .wait_for("the ack", |f| {
            matches!(f, ServerMsg::Ack { client_id: c, .. } if *c == client_id).then_some(())
        })
        .await;
}

async fn every_send_is_acked_and_a_resend_is_stored_once(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    let frame =
        json!({"type": "send", "room": "lobby", "text": "once", "client_id": uuid::Uuid::new_v4()});
    let ack = |f: &ServerMsg| match f {
        ServerMsg::Ack { id, .. } => Some(*id),
        _ => None,
    };
    socket.send_json(frame.clone()).await;
    let first = socket.wait_for("first ack", ack).await;
    socket.send_json(frame).await;
    let second = socket.wait_for("second ack", ack).await;
    assert_eq!(first, second, "a re-send returns the original id");

    // A newcomer's history holds the message exactly once.
    let bob = logged_in(world.b(), "bob").await;
    let mut late = bob.connect(world.b(), "room=lobby").await.unwrap();
    let mut seen = 0;
    loop {
        match late.next().await {
            Seen::Frame(ServerMsg::Message(m)) if m.text == "once" => seen += 1,
            // Bob's own join notice comes after the history.
            Seen::Frame(ServerMsg::Message(m))
                if m.kind == MessageKind::Join && m.user.name.as_str() == "bob" =>
            {
                break
            }
            Seen::Closed(code) => panic!("closed: {code:?}"),
            _ => {}
        }
    }
    assert_eq!(seen, 1);
}

/// De-duplication is keyed by (sender, client_id): the same id from two users is two messages.
async fn one_users_client_id_cannot_swallow_anothers_message(world: &World) {
    let shared = uuid::Uuid::new_v4();
    let mut ids = Vec::new();
    for (name, instance) in [("alice", &world.a), ("bob", world.b())] {
        let user = logged_in(instance, name).await;
        let mut socket = user.connect(instance, "room=lobby").await.unwrap();
        socket
            .send_json(json!({"type": "send", "room": "lobby", "text": name, "client_id": shared}))
            .await;
        ids.push(
            socket
                .wait_for("the ack", |f| match f {
                    ServerMsg::Ack { id, .. } => Some(*id),
                    _ => None,
                })
                .await,
        );
    }
    assert_ne!(ids[0], ids[1], "both messages were stored");
}

async fn a_new_socket_gets_recent_history(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    for text in ["one", "two", "three"] {
        let client_id = socket.say(text).await;
        socket
            .wait_for("ack", |f| {
                matches!(f, ServerMsg::Ack { client_id: c, .. } if *c == client_id).then_some(())
            })
            .await;
    }
    let bob = logged_in(world.b(), "bob").await;
    let mut late = bob.connect(world.b(), "room=lobby").await.unwrap();
    let mut texts = Vec::new();
    let mut last = None;
    while texts.len() < 3 {
        if let ServerMsg::Message(m) = late
            .wait_for("history", |f| {
                matches!(f, ServerMsg::Message(_)).then(|| f.clone())
            })
            .await
        {
            assert!(last < Some(m.id), "history arrives in id order");
            last = Some(m.id);
            if m.kind == MessageKind::Text {
                texts.push(m.text);
            }
        }
    }
    assert_eq!(texts, ["one", "two", "three"]);
}

async fn the_page_renders_for_the_session(world: &World) {
    let mut anonymous = Browser::new();
    let page = anonymous.get(&format!("{}/", world.a.base)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(r#"action="/api/login""#),
        "login form for a new visitor"
    );

    let mut alice = logged_in(&world.a, "alice").await;
    let page = alice.get(&format!("{}/", world.b().base)).await;
    assert!(
        page.body.contains(r#"data-testid="me" class="me">alice<"#),
        "chat page straight from SSR"
    );
    assert!(
        !page.body.contains(r#"action="/api/login""#),
        "no login form when logged in"
    );
    assert!(
        page.body.contains(&format!(">{}<", world.b().name)),
        "the page names its instance"
    );

    // The room's recent messages are in the page itself.
    let mut socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    socket.say_acked("lobby", "rendered by the server").await;
    let page = alice.get(&format!("{}/", world.b().base)).await;
    assert!(
        page.body.contains(">rendered by the server<"),
        "recent messages are server-rendered"
    );
}

async fn cookies_are_secure_behind_https(world: &World) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/login", world.a.base))
        .header("x-forwarded-proto", "https")
        .form(&[("name", "alice")])
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.to_ascii_lowercase().contains("; secure"), "{cookie}");

    let plain = Browser::new().login(&world.a, "bob").await;
    assert!(!plain.set_cookies[0].to_ascii_lowercase().contains("secure"));
}

async fn foreign_origins_cannot_open_sockets(world: &World) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let alice = logged_in(&world.a, "alice").await;
    let mut request = format!("{}/ws?room=lobby", world.a.ws_base)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("cookie", alice.cookie.clone().unwrap().parse().unwrap());
    headers.insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
}

/// Users on different instances talk to each other through Redis.
#[tokio::test]
async fn messages_cross_instances_through_redis() {
    let world = World::redis();
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut on_a = alice.connect(&world.a, "room=lobby").await.unwrap();
    let mut on_b = bob.connect(world.b(), "room=lobby").await.unwrap();
    // Both are subscribed once each has seen its own join notice.
    for (socket, name) in [(&mut on_a, "alice"), (&mut on_b, "bob")] {
        socket
            .wait_for("own join", |f| {
                matches!(f, ServerMsg::Message(m) if m.kind == MessageKind::Join && m.user.name.as_str() == name)
                    .then_some(())
            })
            .await;
    }
    on_a.say("hello from a").await;
    on_b.say("hello from b").await;
    let got_on_b = on_b
        .wait_for("a's message", |f| match f {
            ServerMsg::Message(m) if m.text == "hello from a" => Some(m.user.name.to_string()),
            _ => None,
        })
        .await;
    let got_on_a = on_a
        .wait_for("b's message", |f| match f {
            ServerMsg::Message(m) if m.text == "hello from b" => Some(m.user.name.to_string()),
            _ => None,
        })
        .await;
    assert_eq!((got_on_a.as_str(), got_on_b.as_str()), ("bob", "alice"));
}

/// With Redis gone, a send is refused with `unavailable` and the instance keeps serving.
#[tokio::test]
async fn a_dead_redis_is_reported_not_fatal() {
    let mut redis = RedisServer::start();
    let a = Instance::start("a", Some(&redis.url()));
    let alice = logged_in(&a, "alice").await;
    let mut socket = alice.connect(&a, "room=lobby").await.unwrap();
    socket
        .wait_for("hello", |f| {
            matches!(f, ServerMsg::Hello { .. }).then_some(())
        })
        .await;
    redis.kill();
    socket.say("into the void").await;
    let code = socket
        .wait_for("an error", |f| match f {
            ServerMsg::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::Unavailable);
    let health = reqwest::get(format!("{}/healthz", a.base)).await.unwrap();
    assert_eq!(health.status(), 200, "the instance is still up");
}

/// Without any Redis configuration the app runs on the in-memory backend and says so.
#[tokio::test]
async fn memory_backend_announces_itself() {
    let a = Instance::start("solo", None);
    let mut browser = Browser::new();
    assert_eq!(browser.login(&a, "alice").await.status, 200);
}

/// Joining and leaving (closing the socket) are announced to the room.
#[tokio::test]
async fn joins_and_leaves_are_announced() {
    let world = World::redis();
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut on_a = alice.connect(&world.a, "room=lobby").await.unwrap();
    on_a.wait_for("hello", |f| {
        matches!(f, ServerMsg::Hello { .. }).then_some(())
    })
    .await;
    let on_b = bob.connect(world.b(), "room=lobby").await.unwrap();
    let notice = |kind: MessageKind| {
        move |f: &ServerMsg| {
            matches!(f, ServerMsg::Message(m) if m.kind == kind && m.user.name.as_str() == "bob")
                .then_some(())
        }
    };
    on_a.wait_for("bob joined", notice(MessageKind::Join)).await;
    on_b.close().await;
    on_a.wait_for("bob left", notice(MessageKind::Leave)).await;
}

/// SIGTERM drains: `/readyz` turns 503 and new sockets are refused at once (while the listener
/// stays open), open ones are closed with 1012 (service restart) spread over the drain window,
/// and the process exits cleanly right after it.
#[tokio::test]
async fn sigterm_drains_sockets_with_1012_within_the_window() {
    const DRAIN_SECS: u64 = 2;
    let redis = RedisServer::start();
    let mut a = Instance::start_with("a", Some(&redis.url()), &[("DRAIN_SECS", "2")]);
    let alice = logged_in(&a, "alice").await;
    let mut sockets = Vec::new();
    for _ in 0..8 {
        let mut socket = alice.connect(&a, "room=lobby").await.unwrap();
        socket
            .wait_for("hello", |f| {
                matches!(f, ServerMsg::Hello { .. }).then_some(())
            })
            .await;
        sockets.push(socket);
    }

    let signalled = std::time::Instant::now();
    a.signal_term();
    // The drain is observable: the listener stays open, answering not-ready and refusing new
    // sockets, while the open ones are still being closed.
    loop {
        let status = reqwest::get(format!("{}/readyz", a.base))
            .await
            .expect("the listener stays open during the drain")
            .status();
        if status == 503 {
            break;
        }
        assert!(
            signalled.elapsed() < std::time::Duration::from_secs(1),
            "/readyz stayed {status}"
        );
    }
    assert_eq!(alice.connect(&a, "room=lobby").await.err(), Some(503));
    let closes = futures_util::future::join_all(sockets.iter_mut().map(|socket| async {
        let code = socket.wait_closed().await;
        (code, signalled.elapsed())
    }))
    .await;
    let status = a.wait_exit();
    let exited = signalled.elapsed();

    let window = std::time::Duration::from_secs(DRAIN_SECS);
    let slack = std::time::Duration::from_millis(500);
    for (code, at) in &closes {
        assert_eq!(*code, Some(1012));
        assert!(
            *at <= window + slack,
            "closed after {at:?}, beyond the {window:?} window"
        );
    }
    let first = closes.iter().map(|(_, at)| *at).min().unwrap();
    let last = closes.iter().map(|(_, at)| *at).max().unwrap();
    assert!(
        last - first >= std::time::Duration::from_millis(100),
        "closes are spread: {closes:?}"
    );
    assert!(status.success(), "clean exit, got {status}");
    assert!(
        exited <= window + std::time::Duration::from_secs(2),
        "exited after {exited:?}"
    );
    eprintln!("drain: closes from {first:?} to {last:?}, exit after {exited:?}");
}

/// A login form posted before the page hydrated (or without JavaScript) comes back to the page
/// with the reason in the URL, which the login form shows.
#[tokio::test]
async fn a_plain_form_post_with_a_bad_name_returns_to_the_form() {
    let a = Instance::start("solo", None);
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/api/login", a.base))
        .header("accept", "text/html,application/xhtml+xml")
        .header("referer", format!("{}/", a.base))
        .form(&[("name", "   ")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        "/?auth_error=%7B%22error%22%3A%22invalid_name%22%2C%22reason%22%3A%22empty%22%7D"
    );
    let page = reqwest::get(format!("{}{location}", a.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Please enter a name."),
        "the form shows the reason"
    );
}
