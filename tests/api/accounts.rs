//! Accounts, on real processes: two instances sharing one Redis and one PostgreSQL, as a scaled
//! deployment runs. What a client observes: status codes, the error bodies, the close codes of
//! its sockets, and what `whoami` says.

use crate::faults::hello;
use crate::helpers::{Browser, Instance, RedisServer};
use crate::postgres::Postgres;
use app::protocol::close_code;

const PASSWORD: &str = "violet tractor lagoon";

/// Two instances on one Redis and one PostgreSQL, with `env` on top of the harness's.
struct Deployment {
    postgres: Postgres,
    redis: RedisServer,
    a: Instance,
    b: Instance,
}

impl Deployment {
    fn start(env: &[(&str, &str)]) -> Self {
        let postgres = Postgres::start();
        let redis = RedisServer::start();
        let url = postgres.url();
        let mut env = env.to_vec();
        env.push(("DATABASE_URL", &url));
        let a = Instance::start_with("a", Some(&redis.url()), &env);
        let b = Instance::start_with("b", Some(&redis.url()), &env);
        Self {
            postgres,
            redis,
            a,
            b,
        }
    }
}

fn error_of(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    json["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn two_people_cannot_hold_one_handle_even_at_the_same_moment() {
    let d = Deployment::start(&[]);
    // Ten sign-ups of look-alikes of one handle, on both instances at once: one wins.
    let handles = [
        "alice",
        "Alice",
        "ALICE",
        "аlice",
        "ａｌｉｃｅ",
        "alice",
        "Alice",
        "a1ice",
        "ALICE",
        "alice",
    ];
    let attempts = handles.iter().enumerate().map(|(i, handle)| {
        let instance = if i % 2 == 0 { &d.a } else { &d.b };
        async move {
            let mut browser = Browser::new();
            browser.sign_up(instance, handle, PASSWORD).await
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let won: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "one sign-up wins: {answers:?}");
    for lost in answers.iter().filter(|r| r.status != 200) {
        // A mixed-script handle is refused before it reaches the store; the rest are taken.
        assert!(
            (lost.status == 409 && error_of(&lost.body) == "handle_taken")
                || (lost.status == 400 && error_of(&lost.body) == "invalid_handle"),
            "{lost:?}"
        );
    }
    let taken = Browser::new().sign_up(&d.b, "ALICE", PASSWORD).await;
    assert_eq!(taken.status, 409);
    assert!(taken.body.contains("handle_taken"), "{}", taken.body);
}

#[tokio::test]
async fn an_account_signs_in_on_any_instance_and_its_socket_takes_the_account() {
    let d = Deployment::start(&[]);
    let mut ada = Browser::new();
    let made = ada.sign_up(&d.a, "Ada", PASSWORD).await;
    assert_eq!(made.status, 200, "{}", made.body);
    assert_eq!(made.json()["handle"], "Ada");

    // A second device signs in on the other instance, with the handle in another case.
    let mut phone = Browser::new();
    let signed_in = phone.sign_in(&d.b, "@ada", PASSWORD).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(
        signed_in.json()["id"],
        made.json()["id"],
        "one account, one id"
    );
    let viewer = phone.whoami(&d.b).await;
    assert_eq!(viewer["user"]["handle"], "Ada");

    let mut socket = phone.connect(&d.a, "room=lobby").await.expect("a socket");
    hello(&mut socket).await;
    socket.say("hello from the phone").await;
    let said = socket
        .wait_for("the message as stored", |f| match f {
            app::protocol::ServerMsg::Message(m) if m.text == "hello from the phone" => {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(said.user.handle.as_ref().map(|h| h.as_str()), Some("Ada"));
}

#[tokio::test]
async fn wrong_passwords_and_unknown_handles_get_one_answer_and_change_nothing() {
    let d = Deployment::start(&[]);
    assert_eq!(
        Browser::new().sign_up(&d.a, "grace", PASSWORD).await.status,
        200
    );
    let wrong = Browser::new()
        .sign_in(&d.a, "grace", "not her password")
        .await;
    let unknown = Browser::new()
        .sign_in(&d.b, "nobody-here", "not her password")
        .await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.body, unknown.body, "no telling which handles exist");
    let mut browser = Browser::new();
    let _ = browser.sign_in(&d.a, "grace", "not her password").await;
    assert_eq!(browser.whoami(&d.a).await["user"], serde_json::Value::Null);
    assert_eq!(browser.connect(&d.a, "room=lobby").await.err(), Some(401));
    // The right password still works.
    assert_eq!(
        Browser::new().sign_in(&d.b, "grace", PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn rapid_guesses_at_one_account_are_limited_across_instances() {
    let d = Deployment::start(&[("RATE_SIGNINS_PER_ACCOUNT_PER_MIN", "1")]);
    assert_eq!(
        Browser::new()
            .sign_up(&d.a, "hopper", PASSWORD)
            .await
            .status,
        200
    );
    let mut statuses = Vec::new();
    let mut retry_after = None;
    let started = std::time::Instant::now();
    for i in 0..100 {
        let instance = if i % 2 == 0 { &d.a } else { &d.b };
        let answer = Browser::new()
            .sign_in(instance, "hopper", &format!("guess {i}"))
            .await;
        if answer.status == 429 {
            retry_after = answer.headers.get("retry-after").cloned();
            assert!(answer.body.contains("rate_limited"), "{}", answer.body);
        }
        statuses.push(answer.status);
    }
    let elapsed = started.elapsed();
    // Two at once, then one a minute: the first two are judged, the next waits, and of the
    // rest only those a refilled token lets through (on a slow machine) are judged.
    assert_eq!(statuses[..3], [401, 401, 429], "{statuses:?}");
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let refills = (elapsed.as_secs() / 60) as usize;
    assert!(
        refused <= 2 + refills,
        "{refused} judged in {elapsed:?}: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let secs: u64 = retry_after
        .expect("a Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "retry after {secs} s");
}

#[tokio::test]
async fn signing_out_closes_that_sign_ins_sockets_and_signing_in_again_works() {
    let d = Deployment::start(&[]);
    let mut laptop = Browser::new();
    assert_eq!(laptop.sign_up(&d.a, "lin", PASSWORD).await.status, 200);
    let mut phone = Browser::new();
    assert_eq!(phone.sign_in(&d.b, "lin", PASSWORD).await.status, 200);
    let mut laptop_socket = laptop.connect(&d.b, "room=lobby").await.unwrap();
    let mut phone_socket = phone.connect(&d.b, "room=lobby").await.unwrap();
    hello(&mut laptop_socket).await;
    hello(&mut phone_socket).await;

    assert_eq!(laptop.logout(&d.a).await.status, 200);
    assert_eq!(
        laptop_socket.wait_closed().await,
        Some(close_code::LOGGED_OUT)
    );
    // The phone's sign-in is another one: it stays.
    phone_socket.say("still here").await;
    phone_socket
        .wait_for("the phone's ack", |f| {
            matches!(f, app::protocol::ServerMsg::Ack { .. }).then_some(())
        })
        .await;

    // The same account, signed in again on the laptop: a socket opens (the old sign-out does
    // not follow the account around).
    assert_eq!(laptop.sign_in(&d.a, "lin", PASSWORD).await.status, 200);
    let mut again = laptop
        .connect(&d.b, "room=lobby")
        .await
        .expect("a socket again");
    hello(&mut again).await;
}

#[tokio::test]
async fn a_changed_password_signs_the_account_out_everywhere_else() {
    let d = Deployment::start(&[]);
    let mut laptop = Browser::new();
    assert_eq!(laptop.sign_up(&d.a, "kay", PASSWORD).await.status, 200);
    let mut phone = Browser::new();
    assert_eq!(phone.sign_in(&d.b, "kay", PASSWORD).await.status, 200);
    let mut phone_socket = phone.connect(&d.b, "room=lobby").await.unwrap();
    hello(&mut phone_socket).await;
    let mut laptop_socket = laptop.connect(&d.b, "room=lobby").await.unwrap();
    hello(&mut laptop_socket).await;

    let weak = laptop
        .request(
            reqwest::Method::POST,
            &format!("{}/api/change_password", d.a.base),
            Some(&[("current", PASSWORD), ("new", "password1")]),
        )
        .await;
    assert_eq!(
        (weak.status, error_of(&weak.body)),
        (400, "weak_password".into())
    );
    let changed = laptop
        .request(
            reqwest::Method::POST,
            &format!("{}/api/change_password", d.a.base),
            Some(&[("current", PASSWORD), ("new", "orange kettle meadow")]),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);

    // The phone's socket closes, and its session no longer signs it in anywhere.
    assert_eq!(
        phone_socket.wait_closed().await,
        Some(close_code::LOGGED_OUT)
    );
    assert_eq!(phone.connect(&d.a, "room=lobby").await.err(), Some(401));
    assert_eq!(
        phone.probe(&d.a).await.headers["x-switchboard-session"],
        "none"
    );
    assert_eq!(phone.whoami(&d.b).await["user"], serde_json::Value::Null);

    // The laptop, which changed it, goes on (its open socket too); the old password is gone,
    // the new one works.
    laptop_socket.say("still signed in").await;
    laptop_socket
        .wait_for("the laptop's ack", |f| {
            matches!(f, app::protocol::ServerMsg::Ack { .. }).then_some(())
        })
        .await;
    assert_eq!(laptop.whoami(&d.b).await["user"]["handle"], "kay");
    let mut socket = laptop
        .connect(&d.b, "room=lobby")
        .await
        .expect("still signed in");
    hello(&mut socket).await;
    assert_eq!(
        Browser::new().sign_in(&d.a, "kay", PASSWORD).await.status,
        401
    );
    assert_eq!(
        Browser::new()
            .sign_in(&d.a, "kay", "orange kettle meadow")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_deleted_account_is_signed_out_and_its_handle_is_free() {
    let d = Deployment::start(&[]);
    let mut browser = Browser::new();
    assert_eq!(browser.sign_up(&d.a, "tmp", PASSWORD).await.status, 200);
    let mut socket = browser.connect(&d.b, "room=lobby").await.unwrap();
    hello(&mut socket).await;
    let deleted = browser
        .request(
            reqwest::Method::POST,
            &format!("{}/api/delete_account", d.a.base),
            Some(&[("password", PASSWORD)]),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(socket.wait_closed().await, Some(close_code::LOGGED_OUT));
    assert_eq!(browser.whoami(&d.a).await["user"], serde_json::Value::Null);
    assert_eq!(
        Browser::new().sign_in(&d.b, "tmp", PASSWORD).await.status,
        401
    );
    assert_eq!(
        Browser::new().sign_up(&d.b, "TMP", PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn accounts_outlive_an_empty_redis_and_a_database_restart() {
    let mut d = Deployment::start(&[]);
    let mut browser = Browser::new();
    assert_eq!(browser.sign_up(&d.a, "durable", PASSWORD).await.status, 200);
    // Redis restarts with nothing (it keeps nothing on disk): sessions are gone, accounts not.
    d.redis.restart();
    signs_in_soon(&d.a, "durable").await;
    assert_eq!(
        browser.whoami(&d.a).await["user"],
        serde_json::Value::Null,
        "the session went with Redis"
    );
    // The database restarts: while it is down a sign-in is "unavailable", then it works.
    d.postgres.kill();
    let down = Browser::new().sign_in(&d.b, "durable", PASSWORD).await;
    assert_eq!(
        (down.status, error_of(&down.body)),
        (503, "unavailable".into())
    );
    d.postgres.restart();
    signs_in_soon(&d.b, "durable").await;
}

/// Waits (polling, up to the harness's patience) until `handle` signs in on `instance`.
async fn signs_in_soon(instance: &Instance, handle: &str) {
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let answer = Browser::new().sign_in(instance, handle, PASSWORD).await;
        if answer.status == 200 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{handle} never signed in again: {answer:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn guests_come_in_only_where_allowed_and_never_as_an_account() {
    let d = Deployment::start(&[]);
    assert_eq!(
        Browser::new()
            .sign_up(&d.a, "margaret", PASSWORD)
            .await
            .status,
        200
    );
    for name in ["margaret", "Margaret", "@margaret", "mаrgaret"] {
        let answer = Browser::new().login(&d.b, name).await;
        assert_eq!(
            (answer.status, error_of(&answer.body)),
            (409, "name_is_a_handle".into()),
            "{name}"
        );
    }
    let guest = Browser::new().login(&d.b, "Margaret H.").await;
    assert_eq!(guest.status, 200);
    assert_eq!(
        guest.json()["handle"],
        serde_json::Value::Null,
        "a guest has no handle"
    );

    let closed = Deployment::start(&[("ALLOW_GUESTS", "false")]);
    let answer = Browser::new().login(&closed.a, "visitor").await;
    assert_eq!(
        (answer.status, error_of(&answer.body)),
        (403, "guests_off".into())
    );
    let mut visitor = Browser::new();
    assert_eq!(visitor.whoami(&closed.a).await["guests"], false);
}

#[tokio::test]
async fn the_embedded_default_keeps_accounts_in_memory() {
    let a = Instance::start("solo", None);
    assert_eq!(
        Browser::new().sign_up(&a, "memo", PASSWORD).await.status,
        200
    );
    assert_eq!(
        Browser::new().sign_in(&a, "memo", PASSWORD).await.status,
        200
    );
    assert_eq!(
        Browser::new().sign_up(&a, "Memo", PASSWORD).await.status,
        409
    );
}
