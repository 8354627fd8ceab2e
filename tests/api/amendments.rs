//! Edits, reactions, replies and deletions, on real processes: a reader who was away and
//! resumes, a newcomer whose socket brings the recent history, the rendered page and a page of
//! older history read later all see the same conversation, through the page's own state
//! (`app::live::state::Chat`), which applies the records as the browser does.

use crate::helpers::{Browser, Instance, Socket};
use crate::{logged_in, World};
use app::live::state::Chat;
use app::protocol::{ChatMessage, ErrorCode, MessageId, MessageKind, RoomName, ServerMsg, UserId};
use serde_json::json;

backends!(
    a_reader_who_was_away_sees_the_conversation_as_everyone_does,
    refused_changes_name_the_message_and_change_nothing,
    a_reaction_is_a_state_not_a_step,
);

/// A socket and the page state its frames build.
struct Reader {
    socket: Socket,
    chat: Chat,
}

impl Reader {
    async fn open(browser: &Browser, instance: &Instance, me: UserId) -> Self {
        Self {
            socket: browser
                .connect(instance, "room=lobby")
                .await
                .expect("upgraded"),
            chat: Chat::new(RoomName::lobby()).with_user(me),
        }
    }

    /// The page goes offline: its socket closes, its state stays.
    async fn away(self) -> Chat {
        self.socket.close().await;
        let mut chat = self.chat;
        chat.disconnected();
        chat
    }

    /// The page comes back with a new socket, resuming after what it has (as it does after a
    /// reconnect).
    async fn resume(chat: Chat, browser: &Browser, instance: &Instance) -> Self {
        let after = chat
            .current()
            .last_seen()
            .expect("something to resume after");
        let query = format!("room=lobby&after={after}");
        let socket = browser.connect(instance, &query).await.expect("upgraded");
        Self { socket, chat }
    }

    /// Applies frames to the page's state until it holds message `id`.
    async fn until_it_has(&mut self, id: MessageId) {
        let Self { socket, chat } = self;
        socket
            .wait_for(&format!("message {id}"), |frame| {
                apply(chat, frame.clone());
                chat.current().messages.contains_key(&id).then_some(())
            })
            .await
    }
}

/// What the page does with a frame, as far as the conversation goes.
fn apply(chat: &mut Chat, frame: ServerMsg) {
    match frame {
        ServerMsg::Hello { room, .. } => drop(chat.hello(&room, 0)),
        ServerMsg::Joined { room } => drop(chat.joined(&room, 0)),
        ServerMsg::Message(m) => drop(chat.message(m)),
        ServerMsg::History {
            room,
            messages,
            complete,
            ..
        } => chat.older(&room, messages, complete),
        ServerMsg::Presence { room, count, users } => chat.presence(&room, count, users),
        _ => {}
    }
}

/// One said message as a reader sees it.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    id: MessageId,
    text: String,
    deleted: bool,
    edited: bool,
    reactions: Vec<(String, Vec<UserId>)>,
    quote: Option<(MessageId, String, bool)>,
}

fn seen(m: &ChatMessage) -> Seen {
    Seen {
        id: m.id,
        text: m.text.clone(),
        deleted: m.deleted,
        edited: m.edited.is_some(),
        reactions: m
            .reactions
            .iter()
            .map(|r| (r.emoji.to_string(), r.users.iter().map(|u| u.id).collect()))
            .collect(),
        quote: m.reply.as_ref().map(|q| (q.id, q.text.clone(), q.deleted)),
    }
}

/// The conversation a page shows: what was said (not who came and went), oldest first.
fn conversation(chat: &Chat) -> Vec<Seen> {
    chat.current()
        .messages
        .values()
        .filter(|m| m.is_shown() && m.kind.is_said())
        .map(seen)
        .collect()
}

/// A socket in the lobby, past its history (so it hears what is said from now on).
async fn joined(browser: &Browser, instance: &Instance, query: &str) -> Socket {
    let mut socket = browser.connect(instance, query).await.expect("upgraded");
    socket
        .wait_for("presence", |f| {
            matches!(f, ServerMsg::Presence { .. }).then_some(())
        })
        .await;
    socket
}

async fn guest(instance: &Instance, name: &str) -> (Browser, UserId) {
    let browser = logged_in(instance, name).await;
    let id = browser.user_id(instance).await;
    (browser, id)
}

/// Sends a frame that changes a message and waits for its record to come back.
async fn change(socket: &mut Socket, frame: serde_json::Value) -> MessageId {
    let target: MessageId = frame["id"].as_str().unwrap().parse().unwrap();
    socket.send_json(frame).await;
    socket
        .wait_for("the record", |f| match f {
            ServerMsg::Message(m) if m.kind.is_record() && m.target == Some(target) => Some(m.id),
            ServerMsg::Error { message, .. } => panic!("refused: {message}"),
            _ => None,
        })
        .await
}

async fn reply(socket: &mut Socket, to: MessageId, text: &str) -> MessageId {
    let client_id = uuid::Uuid::new_v4();
    socket
        .send_json(json!({"type": "send", "room": "lobby", "text": text, "client_id": client_id, "reply_to": to}))
        .await;
    socket
        .wait_for("ack", |f| match f {
            ServerMsg::Ack { client_id: c, id } if c.0 == client_id => Some(*id),
            ServerMsg::Error { message, .. } => panic!("refused: {message}"),
            _ => None,
        })
        .await
}

fn edit(id: MessageId, text: &str) -> serde_json::Value {
    json!({"type": "edit", "room": "lobby", "id": id, "text": text})
}

fn react(id: MessageId, emoji: &str, on: bool) -> serde_json::Value {
    json!({"type": "react", "room": "lobby", "id": id, "emoji": emoji, "on": on})
}

async fn a_reader_who_was_away_sees_the_conversation_as_everyone_does(world: &World) {
    let (mut ada_browser, ada_id) = guest(&world.a, "ada").await;
    let (bo_browser, bo_id) = guest(world.b(), "bo").await;
    let (cy_browser, cy_id) = guest(world.b(), "cy").await;
    let mut ada = joined(&ada_browser, &world.a, "room=lobby").await;
    let mut cy = joined(&cy_browser, world.b(), "room=lobby").await;
    let mut bo = Reader::open(&bo_browser, world.b(), bo_id).await;

    let first = ada.say_acked("lobby", "first").await;
    let second = ada.say_acked("lobby", "second").await;
    let third = ada.say_acked("lobby", "third").await;
    bo.until_it_has(third).await;
    // bo goes away, having read all three.
    let bo_page = bo.away().await;

    change(&mut ada, edit(first, "first, fixed")).await;
    change(&mut ada, react(second, "👍", true)).await;
    change(&mut cy, react(second, "👍", true)).await;
    change(&mut cy, react(second, "🎉", true)).await;
    change(&mut cy, react(second, "🎉", false)).await;
    let answers_third = reply(&mut ada, third, "about the third").await;
    let answers_first = reply(&mut ada, first, "about the first").await;
    let deleted = ada_browser
        .post_json(
            &format!("{}/api/rooms/delete_message", world.a.base),
            &json!({"room": "lobby", "id": third}),
        )
        .await;
    assert_eq!(deleted.status, 200, "delete: {}", deleted.body);
    let last = change(&mut ada, edit(first, "first, final")).await;

    // bo comes back on the other instance and resumes: the records are what he missed.
    let mut bo = Reader::resume(bo_page, &bo_browser, &world.a).await;
    bo.until_it_has(last).await;
    let resumed = conversation(&bo.chat);

    // A newcomer's socket brings the recent history.
    let (dan_browser, dan_id) = guest(world.b(), "dan").await;
    let mut dan = Reader::open(&dan_browser, world.b(), dan_id).await;
    dan.until_it_has(last).await;
    assert_eq!(conversation(&dan.chat), resumed, "recent history");

    // A page of older history, read a day later: the messages come as their records left
    // them, and the page's records are not applied again.
    let mut later = Reader::open(&dan_browser, world.b(), dan_id).await;
    later.until_it_has(last).await;
    later.chat = Chat::new(RoomName::lobby()).with_user(dan_id);
    later
        .socket
        .send_json(json!({"type": "history", "room": "lobby", "before": "99999999999999-0"}))
        .await;
    let page = later
        .socket
        .wait_for("a page", |f| match f {
            ServerMsg::History { messages, .. } => Some(messages.clone()),
            _ => None,
        })
        .await;
    later.chat.older(&RoomName::lobby(), page, true);
    assert_eq!(conversation(&later.chat), resumed, "a page of history");

    // And the page as the server renders it.
    let mut dan_browser = dan_browser;
    let response = dan_browser
        .request(
            reqwest::Method::POST,
            &format!("{}/api/recent", world.a.base),
            Some(&[("room", "lobby")]),
        )
        .await;
    assert_eq!(response.status, 200, "recent: {}", response.body);
    let rendered: Vec<ChatMessage> =
        serde_json::from_value(response.json()["messages"].clone()).unwrap();
    let mut page = Chat::new(RoomName::lobby()).with_user(dan_id);
    page.rendered(rendered, true);
    assert_eq!(conversation(&page), resumed, "the rendered page");

    let by_id = |id| resumed.iter().find(|m| m.id == id).unwrap();
    assert_eq!(
        (by_id(first).text.as_str(), by_id(first).edited),
        ("first, final", true)
    );
    assert_eq!(
        by_id(second).reactions,
        vec![("👍".to_owned(), vec![ada_id, cy_id])]
    );
    assert!(by_id(third).deleted && by_id(third).text.is_empty());
    assert_eq!(
        by_id(answers_third).quote,
        Some((third, String::new(), true))
    );
    assert_eq!(
        by_id(answers_first).quote,
        Some((first, "first, final".to_owned(), false))
    );
}

/// The refusal `frame` gets on `socket`: its code and the message it names.
async fn refusal(socket: &mut Socket, frame: serde_json::Value) -> (ErrorCode, Option<MessageId>) {
    socket.send_json(frame).await;
    socket
        .wait_for("the refusal", |f| match f {
            ServerMsg::Error { code, target, .. } => Some((*code, *target)),
            ServerMsg::Message(m) if m.kind.is_record() => panic!("changed: {m:?}"),
            _ => None,
        })
        .await
}

async fn refused_changes_name_the_message_and_change_nothing(world: &World) {
    let (ada_browser, _) = guest(&world.a, "ada").await;
    let (bo_browser, bo_id) = guest(world.b(), "bo").await;
    let mut ada = joined(&ada_browser, &world.a, "room=lobby").await;
    let mut bo = joined(&bo_browser, world.b(), "room=lobby").await;
    let hers = ada.say_acked("lobby", "hers").await;
    let nowhere: MessageId = "1-0".parse().unwrap();

    let cases = [
        (edit(hers, "mine now"), ErrorCode::NotYours),
        (edit(nowhere, "what?"), ErrorCode::NoSuchMessage),
        (edit(hers, "   "), ErrorCode::InvalidText),
        (react(hers, "lol", true), ErrorCode::InvalidReaction),
        (react(nowhere, "👍", true), ErrorCode::NoSuchMessage),
        (
            json!({"type": "react", "room": "lobby", "id": hers, "emoji": "👍"}),
            ErrorCode::BadFrame,
        ),
        (
            json!({"type": "edit", "room": "elsewhere", "id": hers, "text": "x"}),
            ErrorCode::WrongRoom,
        ),
    ];
    for (frame, code) in cases {
        let target: MessageId = frame["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            refusal(&mut bo, frame.clone()).await,
            (code, Some(target)),
            "{frame}"
        );
    }
    // A reply to a message the room does not have is not sent, and says which.
    let client_id = uuid::Uuid::new_v4();
    bo.send_json(json!({"type": "send", "room": "lobby", "text": "re", "client_id": client_id, "reply_to": nowhere}))
        .await;
    let answer = bo
        .wait_for("the refusal", |f| match f {
            ServerMsg::Error {
                code,
                client_id: Some(c),
                target,
                ..
            } if c.0 == client_id => Some((*code, *target)),
            ServerMsg::Ack { .. } => panic!("a reply to nothing was stored"),
            _ => None,
        })
        .await;
    assert_eq!(answer, (ErrorCode::NoSuchMessage, Some(nowhere)));
    // Nothing changed: a newcomer sees her message as she said it.
    let mut dan = Reader::open(&bo_browser, world.b(), bo_id).await;
    dan.until_it_has(hers).await;
    let shown = conversation(&dan.chat);
    let hers = shown.iter().find(|m| m.id == hers).unwrap();
    assert_eq!((hers.text.as_str(), hers.edited), ("hers", false));
    assert!(hers.reactions.is_empty());
}

async fn a_reaction_is_a_state_not_a_step(world: &World) {
    let (ada_browser, ada_id) = guest(&world.a, "ada").await;
    let (bo_browser, _) = guest(world.b(), "bo").await;
    let mut said = joined(&bo_browser, world.b(), "room=lobby").await;
    let id = said.say_acked("lobby", "react to me").await;
    // Two tabs of ada's, on two instances, click at once, and one sends its frame again.
    let mut one = joined(&ada_browser, &world.a, "room=lobby").await;
    let mut two = joined(&ada_browser, world.b(), "room=lobby").await;
    let mut watcher = joined(&bo_browser, &world.a, "room=lobby").await;
    for on in [true, false] {
        one.send_json(react(id, "👍", on)).await;
        two.send_json(react(id, "👍", on)).await;
        one.send_json(react(id, "👍", on)).await;
        // A socket answers in order: once these are acknowledged, both tabs' reactions are in.
        one.say_acked("lobby", &format!("after {on}")).await;
        two.say_acked("lobby", &format!("after {on} too")).await;
        let records = watcher
            .wait_for("the messages after the clicks", {
                let mut records = Vec::new();
                let mut acks = 0;
                move |f| {
                    match f {
                        ServerMsg::Message(m) if m.kind == MessageKind::Reacted => {
                            records.push(m.reaction.clone().unwrap().on)
                        }
                        ServerMsg::Message(m) if m.text.starts_with("after") => acks += 1,
                        _ => {}
                    }
                    (acks == 2).then(|| records.clone())
                }
            })
            .await;
        assert_eq!(records, vec![on], "one record for three clicks");
    }
    // Read back: no reaction is left, however many frames said so.
    let mut reader = Reader::open(&ada_browser, world.b(), ada_id).await;
    reader.until_it_has(id).await;
    let shown = conversation(&reader.chat);
    assert!(shown
        .iter()
        .find(|m| m.id == id)
        .unwrap()
        .reactions
        .is_empty());
}
