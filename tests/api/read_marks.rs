//! Read marks on real processes: a person reading on one tab clears what the others show as
//! unread, on any instance; a mark only moves forward, never past what the socket was sent,
//! and a socket entering a room learns the mark after its catch-up. The pages' counts are the
//! real page state's (`app::live::state::Chat`), fed the frames the sockets read.

use crate::helpers::{Browser, Instance, Socket};
use crate::{logged_in, World};
use app::live::state::Chat;
use app::protocol::{ErrorCode, MessageId, RoomName, ServerMsg, UserId};
use serde_json::json;

backends!(
    reading_in_one_tab_clears_the_others_on_every_instance,
    a_mark_moves_forward_only_and_never_past_what_was_sent,
);

/// One tab of a person: its socket in the lobby and the page state its frames build.
struct Tab {
    socket: Socket,
    chat: Chat,
}

impl Tab {
    /// A tab in the lobby, past its catch-up (the mark, if any, and who is here).
    async fn open(browser: &Browser, instance: &Instance, me: UserId) -> Self {
        let socket = browser
            .connect(instance, "room=lobby")
            .await
            .expect("upgraded");
        let mut tab = Self {
            socket,
            chat: Chat::new(RoomName::lobby()).with_user(me),
        };
        tab.until("its catch-up", |f| matches!(f, ServerMsg::Presence { .. }))
            .await;
        tab
    }

    /// Feeds frames to the page state until `done` says so of one.
    async fn until(&mut self, what: &str, done: impl Fn(&ServerMsg) -> bool) {
        let Self { socket, chat } = self;
        socket
            .wait_for(what, |frame| {
                match frame.clone() {
                    ServerMsg::Hello { room, .. } => drop(chat.hello(&room, 0)),
                    ServerMsg::Message(m) => drop(chat.message(m)),
                    ServerMsg::Read { room, id } => chat.read(&room, id),
                    ServerMsg::Presence { room, count, users } => {
                        chat.presence(&room, count, users)
                    }
                    _ => {}
                }
                done(frame).then_some(())
            })
            .await
    }

    async fn until_message(&mut self, id: MessageId) {
        self.until(
            &format!("message {id}"),
            |f| matches!(f, ServerMsg::Message(m) if m.id == id),
        )
        .await
    }

    async fn until_read(&mut self, id: MessageId) {
        self.until(
            &format!("read mark {id}"),
            |f| matches!(f, ServerMsg::Read { id: at, .. } if *at == id),
        )
        .await
    }

    fn unread(&self) -> u32 {
        self.chat.unread(|_| false)
    }

    async fn read_to(&mut self, id: &str) {
        self.socket
            .send_json(json!({"type": "read", "room": "lobby", "id": id}))
            .await;
    }
}

async fn person(instance: &Instance, name: &str) -> (Browser, UserId) {
    let browser = logged_in(instance, name).await;
    let id = browser.user_id(instance).await;
    (browser, id)
}

async fn reading_in_one_tab_clears_the_others_on_every_instance(world: &World) {
    let (ada, ada_id) = person(&world.a, "ada").await;
    let (bo, _) = person(world.b(), "bo").await;
    let mut bo = bo.connect(world.b(), "room=lobby").await.unwrap();
    let mut laptop = Tab::open(&ada, &world.a, ada_id).await;
    let mut phone = Tab::open(&ada, world.b(), ada_id).await;

    let first = bo.say_acked("lobby", "are you there?").await;
    let second = bo.say_acked("lobby", "hello?").await;
    for tab in [&mut laptop, &mut phone] {
        tab.until_message(second).await;
        assert_eq!(tab.unread(), 2, "both unread on every tab");
    }

    // The laptop reads; the phone, on the other instance, hears of it.
    laptop.read_to(&second.to_string()).await;
    phone.until_read(second).await;
    assert_eq!(phone.unread(), 0, "read on the laptop is read on the phone");
    laptop.until_read(second).await;
    assert_eq!(laptop.unread(), 0);

    // A tab opened later learns the mark after its catch-up: nothing is unread there either.
    let tablet = Tab::open(&ada, world.b(), ada_id).await;
    assert!(tablet.chat.current().messages.contains_key(&first));
    assert_eq!(tablet.chat.current().read.at(), Some(second));
    assert_eq!(tablet.unread(), 0);
    // A new message is unread on each of them until one reads it.
    let third = bo.say_acked("lobby", "ok, later").await;
    for tab in [&mut laptop, &mut phone] {
        tab.until_message(third).await;
        assert_eq!(tab.unread(), 1);
    }
}

async fn a_mark_moves_forward_only_and_never_past_what_was_sent(world: &World) {
    let (ada, ada_id) = person(&world.a, "ada").await;
    let (bo, _) = person(world.b(), "bo").await;
    let mut bo = bo.connect(world.b(), "room=lobby").await.unwrap();
    let mut laptop = Tab::open(&ada, &world.a, ada_id).await;
    let first = bo.say_acked("lobby", "one").await;
    let second = bo.say_acked("lobby", "two").await;
    laptop.until_message(second).await;

    laptop.read_to(&second.to_string()).await;
    laptop.until_read(second).await;
    // Back is no move: a new tab still finds the later mark.
    laptop.read_to(&first.to_string()).await;
    // Far past anything sent: it stops at the last message this socket was sent.
    laptop.read_to("99999999999999-0").await;
    let third = bo.say_acked("lobby", "three").await;
    laptop.until_message(third).await;
    laptop.read_to("99999999999999-0").await;
    laptop.until_read(third).await;
    let phone = Tab::open(&ada, world.b(), ada_id).await;
    assert_eq!(phone.chat.current().read.at(), Some(third));

    // A room the socket is not in is refused, by name.
    laptop
        .socket
        .send_json(json!({"type": "read", "room": "elsewhere", "id": third}))
        .await;
    laptop
        .socket
        .wait_for("the refusal", |f| match f {
            ServerMsg::Error {
                code: ErrorCode::WrongRoom,
                room: Some(room),
                ..
            } => (room.as_str() == "elsewhere").then_some(()),
            _ => None,
        })
        .await;
}
