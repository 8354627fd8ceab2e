//! The room records' contract, run against both stores: PostgreSQL (a real server, migrated as
//! an instance migrates it) and the in-memory default. Whatever the doors decide rests on these
//! answers, so both stores must give the same ones.

use crate::postgres::Postgres;
use app::protocol::{Handle, MessageId, RoomName, UserId, UserName};
use std::sync::Arc;
use switchboard::accounts::{self, Account, AccountStore, PasswordHash};
use switchboard::memberships::{
    self, DirectKey, Member, MembershipError, Memberships, Moderation, Role, Room, RoomKind,
    Standing,
};
use switchboard::settings::DatabaseUrl;

fn room(name: &str) -> RoomName {
    RoomName::parse(name).expect("a valid room name")
}

async fn person(accounts: &dyn AccountStore, handle: &str) -> UserId {
    let account = Account {
        id: UserId(uuid::Uuid::new_v4()),
        handle: Handle::parse(handle).expect("a valid handle"),
        name: UserName::parse(handle).expect("a valid name"),
        password: Some(PasswordHash::from_stored("$argon2id$stand-in".to_owned())),
    };
    accounts.create(&account).await.expect("an account");
    account.id
}

fn private(name: &str, owner: UserId) -> Room {
    Room {
        name: room(name),
        kind: RoomKind::Private,
        title: "Plans".to_owned(),
        topic: String::new(),
        created_by: Some(owner),
    }
}

async fn holds(store: Arc<dyn Memberships>, accounts: Arc<dyn AccountStore>) {
    let ada = person(&*accounts, "ada").await;
    let bo = person(&*accounts, "bo").await;
    let cy = person(&*accounts, "cy").await;

    // A private room, with its owner and one member.
    let plans = private("plans-x1", ada);
    let members = [
        Member {
            user: ada,
            role: Role::Owner,
        },
        Member {
            user: bo,
            role: Role::Member,
        },
    ];
    store.create(&plans, &members).await.expect("created");
    assert!(matches!(
        store.create(&plans, &members[..1]).await,
        Err(MembershipError::Taken)
    ));
    let standing = |user| {
        let store = store.clone();
        let name = plans.name.clone();
        async move { store.standing(&name, user).await.unwrap().map(|(_, s)| s) }
    };
    assert_eq!(standing(ada).await, Some(Standing::Member(Role::Owner)));
    assert_eq!(standing(bo).await, Some(Standing::Member(Role::Member)));
    assert_eq!(standing(cy).await, Some(Standing::Outsider));
    assert_eq!(store.standing(&room("nowhere"), ada).await.unwrap(), None);
    // A private room is not public: opening it by name finds nothing, and creates nothing.
    assert_eq!(store.open_public(&plans.name).await.unwrap(), None);
    assert_eq!(store.room(&plans.name).await.unwrap(), Some(plans.clone()));

    // Members: the owner first.
    let (listed, total) = store.members(&plans.name, 10).await.unwrap();
    assert_eq!(total, listed.len() as u64);
    let (first, all) = store.members(&plans.name, 1).await.unwrap();
    assert_eq!(
        (first.as_slice(), all),
        (&listed[..1], total),
        "bounded, counted"
    );
    assert_eq!(listed, members.to_vec());
    assert!(store.add(&plans.name, cy, Role::Member).await.unwrap());
    assert!(
        !store.add(&plans.name, cy, Role::Moderator).await.unwrap(),
        "already in"
    );
    assert_eq!(standing(cy).await, Some(Standing::Member(Role::Member)));

    // Moderation, each action with its line in the log.
    store
        .moderate(&plans.name, ada, &Moderation::Role(cy, Role::Moderator))
        .await
        .unwrap();
    assert_eq!(standing(cy).await, Some(Standing::Member(Role::Moderator)));
    store
        .moderate(&plans.name, cy, &Moderation::RemovedMember(bo))
        .await
        .unwrap();
    assert_eq!(standing(bo).await, Some(Standing::Outsider));
    assert!(store.banned(&plans.name).await.unwrap().is_empty());
    assert!(matches!(
        store
            .moderate(&plans.name, cy, &Moderation::RemovedMember(bo))
            .await,
        Err(MembershipError::Missing)
    ));
    store
        .moderate(&plans.name, cy, &Moderation::Banned(bo))
        .await
        .unwrap();
    assert_eq!(standing(bo).await, Some(Standing::Banned));
    assert_eq!(store.banned(&plans.name).await.unwrap(), [bo]);
    assert!(
        !store.add(&plans.name, bo, Role::Member).await.unwrap(),
        "banned"
    );
    let removed = MessageId {
        ms: 1_700_000_000_000,
        seq: 3,
    };
    store
        .moderate(&plans.name, cy, &Moderation::DeletedMessage(removed))
        .await
        .unwrap();
    store
        .moderate(&plans.name, ada, &Moderation::Topic("Q3 plans".to_owned()))
        .await
        .unwrap();
    assert_eq!(
        store.room(&plans.name).await.unwrap().unwrap().topic,
        "Q3 plans"
    );
    store
        .moderate(&plans.name, ada, &Moderation::Unbanned(bo))
        .await
        .unwrap();
    assert_eq!(standing(bo).await, Some(Standing::Outsider));
    assert!(store.banned(&plans.name).await.unwrap().is_empty());
    assert!(matches!(
        store
            .moderate(&plans.name, ada, &Moderation::Unbanned(bo))
            .await,
        Err(MembershipError::Missing)
    ));
    assert!(matches!(
        store
            .moderate(&room("nowhere"), ada, &Moderation::Topic(String::new()))
            .await,
        Err(MembershipError::Missing)
    ));
    let log = store.log(&plans.name, 10).await.unwrap();
    let actions: Vec<_> = log.iter().map(|e| (e.actor, e.action.clone())).collect();
    assert_eq!(
        actions,
        vec![
            (ada, Moderation::Unbanned(bo)),
            (ada, Moderation::Topic("Q3 plans".to_owned())),
            (cy, Moderation::DeletedMessage(removed)),
            (cy, Moderation::Banned(bo)),
            (cy, Moderation::RemovedMember(bo)),
            (ada, Moderation::Role(cy, Role::Moderator)),
        ]
    );
    assert!(log.iter().all(|e| e.at_ms > 1_700_000_000_000));
    assert_eq!(store.log(&plans.name, 2).await.unwrap().len(), 2);

    // Public rooms come into being by being opened, once however many open them at once.
    let town = room("town");
    let opened = futures_util::future::join_all((0..8).map(|_| store.open_public(&town))).await;
    for found in opened {
        let town = found.unwrap().expect("a public room");
        assert_eq!((town.kind, town.created_by), (RoomKind::Public, None));
    }
    assert!(store.add(&room("town"), bo, Role::Member).await.unwrap());
    assert!(store.add(&room("town"), cy, Role::Member).await.unwrap());
    store.open_public(&room("quiet")).await.unwrap();
    let directory = store.directory().await.unwrap();
    let listed: Vec<_> = directory
        .iter()
        .map(|l| (l.room.name.as_str(), l.members))
        .collect();
    assert_eq!(
        listed,
        vec![("town", 2), ("quiet", 0)],
        "private rooms are not listed"
    );

    // One direct conversation per set of people, whoever opens it and in whatever order.
    let key = DirectKey::of(&[cy, ada]);
    assert_eq!(key, DirectKey::of(&[ada, cy, ada]));
    assert_eq!(store.direct(&key).await.unwrap(), None);
    let dm = Room {
        name: room("dm-ada-cy"),
        kind: RoomKind::Direct,
        title: "ada, cy".to_owned(),
        topic: String::new(),
        created_by: Some(ada),
    };
    let pair = [
        Member {
            user: ada,
            role: Role::Member,
        },
        Member {
            user: cy,
            role: Role::Member,
        },
    ];
    store.create(&dm, &pair).await.unwrap();
    let again = Room {
        name: room("dm-ada-cy-2"),
        ..dm.clone()
    };
    assert!(matches!(
        store
            .create(&again, &[pair[1].clone(), pair[0].clone()])
            .await,
        Err(MembershipError::Taken)
    ));
    assert_eq!(store.direct(&key).await.unwrap(), Some(dm.clone()));
    assert_eq!(
        store.room(&again.name).await.unwrap(),
        None,
        "nothing of it stored"
    );

    // A person's rooms, in the order they joined them; leaving takes one off.
    let names = |rooms: Vec<(Room, Role)>| {
        rooms
            .into_iter()
            .map(|(r, _)| r.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.rooms_of(cy).await.unwrap()),
        vec!["plans-x1", "town", "dm-ada-cy"]
    );
    assert!(store.leave(&room("town"), cy).await.unwrap());
    assert!(!store.leave(&room("town"), cy).await.unwrap());
    assert_eq!(
        names(store.rooms_of(cy).await.unwrap()),
        vec!["plans-x1", "dm-ada-cy"]
    );

    // Deleting an account takes its memberships with it; the log keeps what it did.
    assert!(accounts.delete(cy).await.unwrap());
    store.forget(cy).await.unwrap();
    assert_eq!(
        store.members(&dm.name, 10).await.unwrap().0,
        pair[..1].to_vec()
    );
    assert_eq!(store.log(&plans.name, 10).await.unwrap().len(), 6);
}

#[tokio::test]
async fn the_postgres_records_keep_the_contract() {
    let postgres = Postgres::start();
    let pool = switchboard::database::connect(&DatabaseUrl::new(postgres.url()))
        .await
        .expect("connected and migrated");
    holds(
        memberships::store(Some(pool.clone())),
        accounts::store(Some(pool)),
    )
    .await;
}

#[tokio::test]
async fn the_memory_records_keep_the_contract() {
    holds(memberships::in_memory(), accounts::in_memory()).await;
}
