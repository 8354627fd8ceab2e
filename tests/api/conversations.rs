//! Rooms that belong to their people, on real processes: two instances sharing one PostgreSQL
//! and one Redis (or a Redis Cluster), as a scaled deployment runs. The room calls are made on
//! one instance and observed on the other: what an outsider's doors answer, the `removed` frame
//! a removed member's socket reads, and every later door refusing them.

use crate::cluster::RedisCluster;
use crate::helpers::{signal, Browser, Instance, RedisServer, Response, Socket};
use crate::postgres::Postgres;
use app::protocol::{close_code, ErrorCode, MessageId, MessageKind, Removal, ServerMsg};
use serde_json::{json, Value};
use std::time::Instant;

const PASSWORD: &str = "violet tractor lagoon";

/// Two instances on one PostgreSQL and one Redis or a Redis Cluster.
struct Deployment {
    postgres: Postgres,
    _redis: Option<RedisServer>,
    _cluster: Option<RedisCluster>,
    a: Instance,
    b: Instance,
}

impl Deployment {
    fn start(cluster: bool) -> Self {
        let postgres = Postgres::start();
        let url = postgres.url();
        let mut env = vec![
            ("DATABASE_URL", url.as_str()),
            ("ADMINS", "root"),
            ("ALLOW_GUESTS", "true"),
        ];
        let (redis, redis_cluster, redis_url) = match cluster {
            false => {
                let redis = RedisServer::start();
                let url = redis.url();
                (Some(redis), None, Some(url))
            }
            true => (None, Some(RedisCluster::start(3, 0)), None),
        };
        let urls = redis_cluster.as_ref().map(RedisCluster::urls);
        if let Some(urls) = &urls {
            env.push(("REDIS_CLUSTER_URLS", urls));
        }
        let a = Instance::start_with("a", redis_url.as_deref(), &env);
        let b = Instance::start_with("b", redis_url.as_deref(), &env);
        Self {
            postgres,
            _redis: redis,
            _cluster: redis_cluster,
            a,
            b,
        }
    }
}

macro_rules! deployments {
    ($($name:ident),* $(,)?) => {
        mod redis_backend {
            $(#[tokio::test] async fn $name() { super::$name(&super::Deployment::start(false)).await })*
        }
        mod cluster_backend {
            $(#[tokio::test] async fn $name() { super::$name(&super::Deployment::start(true)).await })*
        }
    };
}

deployments!(
    a_private_room_is_its_members_alone,
    a_removed_member_stops_hearing_at_once_and_is_refused_at_every_door,
    a_removal_holds_when_the_removed_members_instance_is_killed,
    direct_conversations_are_one_per_set_of_people,
    moderators_ban_and_the_log_says_who_did_what,
    a_deleted_message_is_gone_for_everyone_and_for_whoever_resumes_later,
    an_admin_ends_a_persons_sign_ins_on_every_instance,
);

async fn account(instance: &Instance, handle: &str) -> (Browser, String) {
    let mut browser = Browser::new();
    let response = browser.sign_up(instance, handle, PASSWORD).await;
    assert_eq!(response.status, 200, "sign-up: {}", response.body);
    let id = response.json()["id"].as_str().unwrap().to_owned();
    (browser, id)
}

/// A room call (`/api/rooms/<call>`) with a JSON body.
async fn call(browser: &mut Browser, instance: &Instance, what: &str, body: Value) -> Response {
    browser
        .post_json(&format!("{}/api/rooms/{what}", instance.base), &body)
        .await
}

/// A call that must succeed; its answer.
async fn ok(browser: &mut Browser, instance: &Instance, what: &str, body: Value) -> Value {
    let response = call(browser, instance, what, body).await;
    assert_eq!(response.status, 200, "{what}: {}", response.body);
    response.json()
}

/// A call that must fail with `status` and the error code `error`.
async fn expect_refusal(
    browser: &mut Browser,
    instance: &Instance,
    what: &str,
    body: Value,
    (status, error): (u16, &str),
) {
    let answer = refused(browser, instance, what, body.clone()).await;
    assert_eq!(answer, (status, error.to_owned()), "{what} {body}");
}

/// A call that must fail: its status and error code.
async fn refused(
    browser: &mut Browser,
    instance: &Instance,
    what: &str,
    body: Value,
) -> (u16, String) {
    let response = call(browser, instance, what, body).await;
    assert_ne!(response.status, 200, "{what} succeeded: {}", response.body);
    let error = response.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (response.status, error)
}

async fn private_room(browser: &mut Browser, instance: &Instance, title: &str) -> String {
    let room = ok(
        browser,
        instance,
        "create",
        json!({"title": title, "private": true}),
    )
    .await;
    assert_eq!(room["kind"], "private");
    assert_eq!(room["role"], "owner");
    room["name"].as_str().unwrap().to_owned()
}

/// Opens a socket on `room` and reads up to the end of its catch-up (the presence frame that
/// follows it): the socket, and the texts said in the catch-up. `Err`: the door's refusal
/// (`not_found` or `banned`).
async fn enter(
    browser: &Browser,
    instance: &Instance,
    room: &str,
    after: Option<&str>,
) -> Result<(Socket, Vec<String>), ErrorCode> {
    let query = match after {
        Some(after) => format!("room={room}&after={after}"),
        None => format!("room={room}"),
    };
    let mut socket = browser.connect(instance, &query).await.expect("upgraded");
    let mut said = Vec::new();
    let entered = socket
        .wait_for("the room, or its refusal", |f| match f {
            ServerMsg::Presence { .. } => Some(Ok(())),
            ServerMsg::Message(m) if m.kind.is_said() => {
                said.push(m.text.clone());
                None
            }
            ServerMsg::Error {
                code,
                room: Some(_),
                ..
            } => Some(Err(*code)),
            _ => None,
        })
        .await;
    entered.map(|()| (socket, said))
}

/// The room's messages the page would render (the `recent` server fn, deleted ones left out,
/// as the page does), as texts.
async fn rendered(browser: &mut Browser, instance: &Instance, room: &str) -> Vec<String> {
    let response = browser
        .request(
            reqwest::Method::POST,
            &format!("{}/api/recent", instance.base),
            Some(&[("room", room)]),
        )
        .await;
    assert_eq!(response.status, 200, "recent: {}", response.body);
    let page = response.json();
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "text" && m["deleted"] != true)
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until `socket` hears `text` said.
async fn hears(socket: &mut Socket, text: &str) {
    socket
        .wait_for(text, |f| {
            matches!(f, ServerMsg::Message(m) if m.text == text).then_some(())
        })
        .await
}

async fn next_text(socket: &mut Socket) -> String {
    socket
        .wait_for("a message", |f| match f {
            ServerMsg::Message(m) if m.kind.is_said() => Some(m.text.clone()),
            _ => None,
        })
        .await
}

async fn a_private_room_is_its_members_alone(d: &Deployment) {
    let (mut ada, _) = account(&d.a, "ada").await;
    let (mut bo, _) = account(&d.b, "bo").await;
    let plans = private_room(&mut ada, &d.a, "Plans").await;
    assert!(plans.starts_with('~'), "{plans}");
    let (mut owner, _) = enter(&ada, &d.a, &plans, None).await.unwrap();
    owner.say_acked(&plans, "the secret").await;

    // To bo, on the other instance, it is what an address no one holds is, at every door.
    let nobody = "~00000000000000000000";
    for room in [plans.as_str(), nobody] {
        assert_eq!(
            enter(&bo, &d.b, room, None).await.err(),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            enter(&bo, &d.b, room, Some("1-0")).await.err(),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(rendered(&mut bo, &d.b, room).await, Vec::<String>::new());
        for what in ["details", "log", "leave"] {
            assert_eq!(
                refused(&mut bo, &d.b, what, json!({ "room": room })).await,
                (404, "not_found".to_owned()),
                "{what} {room}"
            );
        }
        expect_refusal(
            &mut bo,
            &d.b,
            "invite",
            json!({"room": room, "handle": "bo"}),
            (404, "not_found"),
        )
        .await;
    }
    let directory = ok(&mut bo, &d.b, "directory", json!({})).await;
    assert!(
        !directory.to_string().contains(&plans),
        "a private room is not listed: {directory}"
    );

    // Invited, bo reads its history and talks in it, across instances.
    let invited = ok(
        &mut ada,
        &d.a,
        "invite",
        json!({"room": plans, "handle": "@bo"}),
    )
    .await;
    assert_eq!(
        (invited["role"].as_str(), invited["user"]["handle"].as_str()),
        (Some("member"), Some("bo"))
    );
    assert_eq!(rendered(&mut bo, &d.b, &plans).await, vec!["the secret"]);
    let (mut member, history) = enter(&bo, &d.b, &plans, None).await.unwrap();
    assert_eq!(history, vec!["the secret"]);
    member.say_acked(&plans, "count me in").await;
    hears(&mut owner, "count me in").await;
    let details = ok(&mut bo, &d.b, "details", json!({ "room": plans })).await;
    assert_eq!(details["room"]["title"], "Plans");
    let roles: Vec<(String, String)> = details["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["handle"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            ("ada".to_owned(), "owner".to_owned()),
            ("bo".to_owned(), "member".to_owned())
        ]
    );
    let mine = ok(&mut bo, &d.a, "mine", json!({})).await;
    assert_eq!(mine[0]["name"], plans.as_str());
    assert_eq!(mine[0]["moderates"], false);
    // Open rooms follow the records: the page opens the room it was invited to.
    let whoami = bo.whoami(&d.a).await;
    assert!(whoami["rooms"].to_string().contains(&plans), "{whoami}");

    // A public room is listed, with its people.
    let club = ok(
        &mut ada,
        &d.a,
        "create",
        json!({"title": "Book Club", "topic": "Fiction"}),
    )
    .await;
    assert_eq!(club["name"], "book-club");
    let directory = ok(&mut bo, &d.b, "directory", json!({})).await;
    let listed = directory
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["room"]["name"] == "book-club")
        .unwrap_or_else(|| panic!("listed: {directory}"));
    assert_eq!(
        (listed["members"].as_u64(), listed["room"]["topic"].as_str()),
        (Some(1), Some("Fiction"))
    );
    expect_refusal(
        &mut bo,
        &d.b,
        "create",
        json!({"title": "Book  club!"}),
        (409, "taken"),
    )
    .await;

    // Guests may read public rooms, never make rooms.
    let mut guest = Browser::new();
    guest.login(&d.a, "visitor").await;
    expect_refusal(
        &mut guest,
        &d.a,
        "create",
        json!({"title": "Mine"}),
        (403, "accounts_only"),
    )
    .await;
}

/// Ada's private room, made on instance B, with bo invited and in it on instance A (their
/// sockets open), after ada said "before" there.
struct Scene {
    ada: Browser,
    bo: Browser,
    bo_id: String,
    plans: String,
    owner: Socket,
    member: Socket,
    /// The id of "before".
    last: app::protocol::MessageId,
}

async fn scene(d: &Deployment) -> Scene {
    let (mut ada, _) = account(&d.b, "ada").await;
    let (bo, bo_id) = account(&d.a, "bo").await;
    let plans = private_room(&mut ada, &d.b, "Plans").await;
    let invite = json!({"room": plans, "handle": "bo"});
    ok(&mut ada, &d.b, "invite", invite).await;
    let (mut owner, _) = enter(&ada, &d.b, &plans, None).await.unwrap();
    let last = owner.say_acked(&plans, "before").await;
    let (member, history) = enter(&bo, &d.a, &plans, None).await.unwrap();
    assert_eq!(history, vec!["before"]);
    Scene {
        ada,
        bo,
        bo_id,
        plans,
        owner,
        member,
        last,
    }
}

async fn a_removed_member_stops_hearing_at_once_and_is_refused_at_every_door(d: &Deployment) {
    let Scene {
        mut ada,
        mut bo,
        bo_id,
        plans,
        mut owner,
        member: mut removed,
        last,
    } = scene(d).await;
    // Bo is in the room on instance A, with the lobby beside it on the same socket.
    removed
        .send_json(json!({"type": "join", "room": "lobby"}))
        .await;
    removed
        .wait_for("joined", |f| {
            matches!(f, ServerMsg::Joined { .. }).then_some(())
        })
        .await;

    // The removal is made on instance B; bo's socket on A hears it.
    let began = Instant::now();
    ok(
        &mut ada,
        &d.b,
        "remove",
        json!({"room": plans, "user": bo_id}),
    )
    .await;
    let reason = removed
        .wait_for("removed", |f| match f {
            ServerMsg::Removed { room, reason } if room.as_str() == plans => Some(*reason),
            ServerMsg::Message(m) if m.room.as_str() == plans && m.kind.is_said() => {
                panic!("heard the room after the removal: {m:?}")
            }
            _ => None,
        })
        .await;
    eprintln!("the removal reached the socket in {:?}", began.elapsed());
    assert_eq!(reason, Removal::Removed);

    // Nothing more from it: ada's next message there is published before her lobby one, through
    // the same subscriber, so it would arrive first if it came at all.
    owner.say_acked(&plans, "after").await;
    let (mut lobby, _) = enter(&ada, &d.b, "lobby", None).await.unwrap();
    lobby.say_acked("lobby", "in the lobby").await;
    assert_eq!(next_text(&mut removed).await, "in the lobby");
    // The socket cannot write or page there either.
    let stray = removed.say_in(&plans, "still here?").await;
    let code = removed
        .wait_for("the refusal", |f| match f {
            ServerMsg::Error {
                code, client_id, ..
            } if *client_id == Some(stray) => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::WrongRoom);

    // Every later door: a resume on either instance, a join, the page, the room calls.
    for instance in [&d.a, &d.b] {
        let after = last.to_string();
        assert_eq!(
            enter(&bo, instance, &plans, Some(&after)).await.err(),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            rendered(&mut bo, instance, &plans).await,
            Vec::<String>::new()
        );
        expect_refusal(
            &mut bo,
            instance,
            "details",
            json!({ "room": plans }),
            (404, "not_found"),
        )
        .await;
    }
    removed
        .send_json(json!({"type": "join", "room": plans}))
        .await;
    let code = removed
        .wait_for("the refusal", |f| match f {
            ServerMsg::Error { code, .. } => Some(*code),
            ServerMsg::Joined { room } if room.as_str() == plans => panic!("joined again"),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::NotFound);
    let whoami = bo.whoami(&d.b).await;
    assert!(
        !whoami["rooms"].to_string().contains(&plans),
        "off the list: {whoami}"
    );

    // A member who leaves, on one device, leaves on all of them.
    let (mut cy, _) = account(&d.a, "cy").await;
    ok(
        &mut ada,
        &d.b,
        "invite",
        json!({"room": plans, "handle": "cy"}),
    )
    .await;
    let (mut laptop, _) = enter(&cy, &d.a, &plans, None).await.unwrap();
    let (mut phone, _) = enter(&cy, &d.b, &plans, None).await.unwrap();
    ok(&mut cy, &d.b, "leave", json!({ "room": plans })).await;
    for socket in [&mut laptop, &mut phone] {
        let reason = socket
            .wait_for("removed", |f| match f {
                ServerMsg::Removed { reason, .. } => Some(*reason),
                _ => None,
            })
            .await;
        assert_eq!(reason, Removal::Left);
    }
    assert_eq!(
        enter(&cy, &d.a, &plans, None).await.err(),
        Some(ErrorCode::NotFound)
    );
}

async fn a_removal_holds_when_the_removed_members_instance_is_killed(d: &Deployment) {
    let Scene {
        mut ada,
        bo,
        bo_id,
        plans,
        mut owner,
        member: mut doomed,
        last,
    } = scene(d).await;

    // Bo's instance dies; the removal is made while it is gone, and bo's client comes back to
    // the live instance with `after=`, as the page does.
    signal(d.a.pid(), "-KILL");
    assert_eq!(doomed.wait_closed().await, None, "the connection just ends");
    ok(
        &mut ada,
        &d.b,
        "remove",
        json!({"room": plans, "user": bo_id}),
    )
    .await;
    owner.say_acked(&plans, "while bo was away").await;
    let after = last.to_string();
    assert_eq!(
        enter(&bo, &d.b, &plans, Some(&after)).await.err(),
        Some(ErrorCode::NotFound)
    );
}

async fn direct_conversations_are_one_per_set_of_people(d: &Deployment) {
    let (mut ada, _) = account(&d.a, "ada").await;
    let (mut bo, _) = account(&d.b, "bo").await;
    let (mut cy, _) = account(&d.a, "cy").await;
    let opened = ok(&mut ada, &d.a, "direct", json!({"handles": ["bo"]})).await;
    assert_eq!(
        (opened["kind"].as_str(), opened["title"].as_str()),
        (Some("direct"), Some("ada, bo"))
    );
    let dm = opened["name"].as_str().unwrap().to_owned();
    // Whoever opens it, from whichever instance, it is the one conversation.
    let again = ok(&mut bo, &d.b, "direct", json!({"handles": ["@ada", "ada"]})).await;
    assert_eq!(again["name"], dm.as_str());
    let (mut a, _) = enter(&ada, &d.a, &dm, None).await.unwrap();
    let (mut b, _) = enter(&bo, &d.b, &dm, None).await.unwrap();
    a.say_acked(&dm, "just us").await;
    assert_eq!(next_text(&mut b).await, "just us");
    // A third person is an outsider; a group of three is another conversation.
    assert_eq!(
        enter(&cy, &d.a, &dm, None).await.err(),
        Some(ErrorCode::NotFound)
    );
    let group = ok(&mut cy, &d.a, "direct", json!({"handles": ["ada", "bo"]})).await;
    assert_ne!(group["name"], dm.as_str());
    // Left, it is shut to bo; opened again, it is bo's again, its history with it.
    ok(&mut bo, &d.b, "leave", json!({ "room": dm })).await;
    assert_eq!(
        enter(&bo, &d.b, &dm, None).await.err(),
        Some(ErrorCode::NotFound)
    );
    let reopened = ok(&mut bo, &d.b, "direct", json!({"handles": ["ada"]})).await;
    assert_eq!(reopened["name"], dm.as_str());
    let (_, history) = enter(&bo, &d.b, &dm, None).await.unwrap();
    assert_eq!(history, vec!["just us"]);
    // Nobody moderates or invites into a direct conversation, an admin neither.
    expect_refusal(
        &mut ada,
        &d.a,
        "invite",
        json!({"room": dm, "handle": "cy"}),
        (403, "forbidden"),
    )
    .await;
    let (mut root, _) = account(&d.b, "root").await;
    expect_refusal(
        &mut root,
        &d.b,
        "details",
        json!({ "room": dm }),
        (404, "not_found"),
    )
    .await;

    expect_refusal(
        &mut ada,
        &d.a,
        "direct",
        json!({"handles": ["nobody"]}),
        (404, "no_such_person"),
    )
    .await;
    let crowd: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    expect_refusal(
        &mut ada,
        &d.a,
        "direct",
        json!({ "handles": crowd }),
        (400, "too_many_people"),
    )
    .await;
    let mut guest = Browser::new();
    guest.login(&d.a, "visitor").await;
    expect_refusal(
        &mut guest,
        &d.a,
        "direct",
        json!({"handles": ["ada"]}),
        (403, "accounts_only"),
    )
    .await;
}

async fn moderators_ban_and_the_log_says_who_did_what(d: &Deployment) {
    let (mut ada, _) = account(&d.a, "ada").await;
    let (mut bo, bo_id) = account(&d.b, "bo").await;
    let (mut cy, cy_id) = account(&d.a, "cy").await;
    ok(&mut ada, &d.a, "create", json!({"title": "Town"})).await;
    // Entering a public room makes an account its member.
    let (mut bo_socket, _) = enter(&bo, &d.b, "town", None).await.unwrap();
    let _cy_socket = enter(&cy, &d.a, "town", None).await.unwrap();

    // A member may not moderate; the owner names a moderator, who may.
    expect_refusal(
        &mut cy,
        &d.a,
        "remove",
        json!({"room": "town", "user": bo_id}),
        (403, "forbidden"),
    )
    .await;
    ok(
        &mut ada,
        &d.a,
        "role",
        json!({"room": "town", "user": cy_id, "role": "moderator"}),
    )
    .await;
    let topic = ok(
        &mut cy,
        &d.a,
        "topic",
        json!({"room": "town", "topic": "Local news"}),
    )
    .await;
    assert_eq!(topic["topic"], "Local news");
    ok(
        &mut cy,
        &d.b,
        "remove",
        json!({"room": "town", "user": bo_id, "ban": true}),
    )
    .await;
    let reason = bo_socket
        .wait_for("removed", |f| match f {
            ServerMsg::Removed { reason, .. } => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Removal::Banned);
    // Banned: a public room's doors say so, on both instances.
    for instance in [&d.a, &d.b] {
        assert_eq!(
            enter(&bo, instance, "town", None).await.err(),
            Some(ErrorCode::Banned)
        );
    }
    // A moderator cannot take out the owner.
    let town = ok(&mut ada, &d.a, "details", json!({"room": "town"})).await;
    let owner_id = town["members"][0]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_refusal(
        &mut cy,
        &d.a,
        "remove",
        json!({"room": "town", "user": owner_id}),
        (403, "forbidden"),
    )
    .await;

    let log = ok(&mut ada, &d.b, "log", json!({"room": "town"})).await;
    let lines: Vec<(String, String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["actor"]["handle"].as_str().unwrap_or("?").to_owned(),
                l["action"].as_str().unwrap().to_owned(),
                l["target"]["handle"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let line = |actor: &str, action: &str, target: &str| {
        (actor.to_owned(), action.to_owned(), target.to_owned())
    };
    assert_eq!(
        lines,
        vec![
            line("cy", "ban", "bo"),
            line("cy", "topic", "-"),
            line("ada", "role", "cy"),
        ],
        "newest first"
    );
    let (status, _) = refused(&mut bo, &d.b, "log", json!({"room": "town"})).await;
    assert_eq!(status, 403, "a banned person sees no log");
    // Moderators see whom the room bans (to lift a ban); members do not.
    let banned = |details: &Value| -> Vec<String> {
        details["banned"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["handle"].as_str().unwrap().to_owned())
            .collect()
    };
    let seen = ok(&mut cy, &d.b, "details", json!({"room": "town"})).await;
    assert_eq!(banned(&seen), ["bo"]);
    let (mut dee, _) = account(&d.a, "dee").await;
    let seen = ok(&mut dee, &d.a, "details", json!({"room": "town"})).await;
    assert!(banned(&seen).is_empty(), "{seen}");

    // The server's admin moderates any room; unbanned, bo comes back.
    let (mut root, _) = account(&d.b, "root").await;
    ok(
        &mut root,
        &d.b,
        "unban",
        json!({"room": "town", "user": bo_id}),
    )
    .await;
    enter(&bo, &d.a, "town", None).await.unwrap();
    let seen = ok(&mut cy, &d.a, "details", json!({"room": "town"})).await;
    assert!(banned(&seen).is_empty(), "{seen}");
    let root_log = ok(&mut root, &d.a, "log", json!({"room": "town"})).await;
    assert_eq!(root_log[0]["action"], "unban");
    assert_eq!(root_log[0]["actor"]["handle"], "root");
}

/// The deletion's record for `target`, read on `socket`.
async fn hears_deleted(socket: &mut Socket, target: MessageId) {
    socket
        .wait_for("the deletion", |f| {
            matches!(f, ServerMsg::Message(m) if m.kind == MessageKind::Deleted && m.target == Some(target))
                .then_some(())
        })
        .await
}

async fn a_deleted_message_is_gone_for_everyone_and_for_whoever_resumes_later(d: &Deployment) {
    let (mut ada, _) = account(&d.a, "ada").await;
    let (mut bo, _) = account(&d.b, "bo").await;
    let room = private_room(&mut ada, &d.a, "Tidy").await;
    ok(
        &mut ada,
        &d.a,
        "invite",
        json!({"room": room, "handle": "bo"}),
    )
    .await;
    let (mut owner, _) = enter(&ada, &d.a, &room, None).await.unwrap();
    let (mut reader, _) = enter(&bo, &d.b, &room, None).await.unwrap();
    owner.say_acked(&room, "keep this").await;
    let doomed = owner.say_acked(&room, "delete me").await;
    hears(&mut reader, "delete me").await;
    // bo goes offline having read it.
    reader.close().await;

    let delete = json!({"room": room, "id": doomed});
    expect_refusal(
        &mut bo,
        &d.b,
        "delete_message",
        delete.clone(),
        (403, "forbidden"),
    )
    .await;
    let started = Instant::now();
    ok(&mut ada, &d.b, "delete_message", delete.clone()).await;
    // The live socket on the other instance hears it.
    hears_deleted(&mut owner, doomed).await;
    eprintln!(
        "deletion heard across instances after {:?}",
        started.elapsed()
    );
    // Twice is once; a message the room does not have is not found.
    ok(&mut ada, &d.a, "delete_message", delete).await;
    expect_refusal(
        &mut ada,
        &d.a,
        "delete_message",
        json!({"room": room, "id": "1-0"}),
        (404, "not_found"),
    )
    .await;

    // bo resumes where he left off: the deletion is what he missed.
    let mut resumed = bo
        .connect(&d.a, &format!("room={room}&after={doomed}"))
        .await
        .unwrap();
    hears_deleted(&mut resumed, doomed).await;
    let back = resumed.say_acked(&room, "back").await;
    // Every later read has only its place: the socket's history, the page, a page of history.
    let (mut fresh, said) = enter(&bo, &d.b, &room, None).await.unwrap();
    assert_eq!(said, vec!["keep this", "", "back"]);
    assert_eq!(
        rendered(&mut bo, &d.a, &room).await,
        vec!["keep this", "back"],
        "the page renders no deleted text"
    );
    fresh
        .send_json(json!({"type": "history", "room": room, "before": "99999999999999-0"}))
        .await;
    let page = fresh
        .wait_for("a page", |f| match f {
            ServerMsg::History { messages, .. } => Some(messages.clone()),
            _ => None,
        })
        .await;
    let blanked = page.iter().find(|m| m.id == doomed).expect("its place");
    assert!(blanked.deleted && blanked.text.is_empty(), "{blanked:?}");
    let record = page.iter().find(|m| m.kind == MessageKind::Deleted);
    assert_eq!(record.and_then(|m| m.target), Some(doomed));

    // A member takes back their own message; the owner deletes another of bo's. Only the
    // second is moderation: the log lists it alone (ada's own "delete me" is not there either).
    ok(
        &mut bo,
        &d.a,
        "delete_message",
        json!({"room": room, "id": back}),
    )
    .await;
    hears_deleted(&mut owner, back).await;
    let another = resumed.say_acked(&room, "one more").await;
    ok(
        &mut ada,
        &d.b,
        "delete_message",
        json!({"room": room, "id": another}),
    )
    .await;
    hears_deleted(&mut owner, another).await;

    let log = ok(&mut ada, &d.a, "log", json!({"room": room})).await;
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["action"], "delete_message");
    assert_eq!(log[0]["detail"], another.to_string());
    assert_eq!(log[0]["actor"]["handle"], "ada");
}

async fn an_admin_ends_a_persons_sign_ins_on_every_instance(d: &Deployment) {
    let (mut root, _) = account(&d.b, "root").await;
    let (mut bo, _) = account(&d.a, "bo").await;
    let (mut ada, _) = account(&d.a, "ada").await;
    let (mut socket, _) = enter(&bo, &d.a, "lobby", None).await.unwrap();
    let end = |handle: &str| json!({ "handle": handle });
    let url = format!("{}/api/admin/end_sessions", d.b.base);
    let response = ada.post_json(&url, &end("bo")).await;
    assert_eq!(response.status, 403, "only an admin: {}", response.body);
    let response = root.post_json(&url, &end("@nobody")).await;
    assert_eq!(response.status, 404, "{}", response.body);

    let response = root.post_json(&url, &end("@bo")).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        socket.wait_closed().await,
        Some(close_code::LOGGED_OUT),
        "bo's socket on the other instance closes"
    );
    assert_eq!(bo.whoami(&d.a).await["user"], Value::Null, "signed out");
    assert_eq!(
        bo.connect(&d.b, "room=lobby").await.err(),
        Some(401),
        "no socket"
    );
    // He may sign in again; the others were not touched.
    let response = bo.sign_in(&d.b, "bo", PASSWORD).await;
    assert_eq!(response.status, 200, "{}", response.body);
    enter(&bo, &d.b, "lobby", None).await.unwrap();
    assert_ne!(ada.whoami(&d.b).await["user"], Value::Null);
}

/// PostgreSQL down: the public chat goes on (a public name opens without the records: no private
/// room can have it), private rooms stay shut, the room calls say "unavailable"; back up, all is
/// as it was. The fault is the database's, so one Redis is enough.
#[tokio::test]
async fn a_database_outage_keeps_the_public_chat_open_and_private_rooms_shut() {
    let mut d = Deployment::start(false);
    let (mut ada, _) = account(&d.a, "ada").await;
    let (bo, _) = account(&d.b, "bo").await;
    let plans = private_room(&mut ada, &d.a, "Plans").await;

    d.postgres.kill();
    let (mut a, _) = enter(&ada, &d.a, "town", None).await.unwrap();
    let (mut b, _) = enter(&bo, &d.b, "town", None).await.unwrap();
    a.say_acked("town", "the database is down").await;
    hears(&mut b, "the database is down").await;
    assert_eq!(
        enter(&ada, &d.b, &plans, None).await.err(),
        Some(ErrorCode::Unavailable)
    );
    let details = json!({ "room": plans });
    expect_refusal(&mut ada, &d.a, "details", details, (503, "unavailable")).await;

    d.postgres.restart();
    let deadline = Instant::now() + crate::helpers::PATIENCE;
    loop {
        match enter(&ada, &d.b, &plans, None).await {
            Ok(_) => break,
            Err(code) => {
                assert_eq!(code, ErrorCode::Unavailable);
                assert!(
                    Instant::now() < deadline,
                    "the private room never opened again"
                );
            }
        }
    }
}
