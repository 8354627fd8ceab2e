//! The room records in this process's memory: the embedded default when no database is
//! configured. They last as long as the process, and one instance sees them.

use super::{
    DirectKey, Listing, LogEntry, Member, MembershipError, Memberships, Moderation, Role, Room,
    RoomKind, Standing,
};
use app::protocol::{RoomName, UserId};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryMemberships(Mutex<Records>);

#[derive(Default)]
struct Records {
    rooms: HashMap<RoomName, Kept>,
    direct: HashMap<DirectKey, RoomName>,
    /// Orders memberships by when they began.
    joins: u64,
}

struct Kept {
    room: Room,
    /// Each member with their role and the order they joined in.
    members: HashMap<UserId, (Role, u64)>,
    /// Longest banned first (a room bans few).
    banned: Vec<UserId>,
    /// Oldest first.
    log: Vec<LogEntry>,
}

impl Kept {
    fn new(room: Room) -> Self {
        Self {
            room,
            members: HashMap::new(),
            banned: Vec::new(),
            log: Vec::new(),
        }
    }
}

impl Records {
    fn next_join(&mut self) -> u64 {
        self.joins += 1;
        self.joins
    }

    fn kept(&mut self, name: &RoomName) -> Result<&mut Kept, MembershipError> {
        self.rooms.get_mut(name).ok_or(MembershipError::Missing)
    }
}

impl MemoryMemberships {
    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Memberships for MemoryMemberships {
    async fn create(&self, room: &Room, members: &[Member]) -> Result<(), MembershipError> {
        let mut records = self.lock();
        if records.rooms.contains_key(&room.name) {
            return Err(MembershipError::Taken);
        }
        let key = (room.kind == RoomKind::Direct)
            .then(|| DirectKey::of(&members.iter().map(|m| m.user).collect::<Vec<_>>()));
        if let Some(key) = &key {
            if records.direct.contains_key(key) {
                return Err(MembershipError::Taken);
            }
        }
        let mut kept = Kept::new(room.clone());
        for member in members {
            let order = records.next_join();
            kept.members.insert(member.user, (member.role, order));
        }
        if let Some(key) = key {
            records.direct.insert(key, room.name.clone());
        }
        records.rooms.insert(room.name.clone(), kept);
        Ok(())
    }

    async fn open_public(&self, name: &RoomName) -> Result<Option<Room>, MembershipError> {
        let mut records = self.lock();
        let kept = records.rooms.entry(name.clone()).or_insert_with(|| {
            Kept::new(Room {
                name: name.clone(),
                kind: RoomKind::Public,
                title: name.to_string(),
                topic: String::new(),
                created_by: None,
            })
        });
        Ok((kept.room.kind == RoomKind::Public).then(|| kept.room.clone()))
    }

    async fn room(&self, name: &RoomName) -> Result<Option<Room>, MembershipError> {
        Ok(self.lock().rooms.get(name).map(|kept| kept.room.clone()))
    }

    async fn standing(
        &self,
        name: &RoomName,
        user: UserId,
    ) -> Result<Option<(Room, Standing)>, MembershipError> {
        let records = self.lock();
        Ok(records.rooms.get(name).map(|kept| {
            let standing = match kept.members.get(&user) {
                Some((role, _)) => Standing::Member(*role),
                None if kept.banned.contains(&user) => Standing::Banned,
                None => Standing::Outsider,
            };
            (kept.room.clone(), standing)
        }))
    }

    async fn direct(&self, key: &DirectKey) -> Result<Option<Room>, MembershipError> {
        let records = self.lock();
        Ok(records
            .direct
            .get(key)
            .and_then(|name| records.rooms.get(name))
            .map(|kept| kept.room.clone()))
    }

    async fn add(
        &self,
        name: &RoomName,
        user: UserId,
        role: Role,
    ) -> Result<bool, MembershipError> {
        let mut records = self.lock();
        let order = records.next_join();
        let kept = records.kept(name)?;
        if kept.banned.contains(&user) || kept.members.contains_key(&user) {
            return Ok(false);
        }
        kept.members.insert(user, (role, order));
        Ok(true)
    }

    async fn leave(&self, name: &RoomName, user: UserId) -> Result<bool, MembershipError> {
        let mut records = self.lock();
        Ok(records
            .rooms
            .get_mut(name)
            .is_some_and(|kept| kept.members.remove(&user).is_some()))
    }

    async fn forget(&self, user: UserId) -> Result<(), MembershipError> {
        for kept in self.lock().rooms.values_mut() {
            kept.members.remove(&user);
            kept.banned.retain(|banned| *banned != user);
        }
        Ok(())
    }

    async fn members(
        &self,
        name: &RoomName,
        limit: usize,
    ) -> Result<(Vec<Member>, u64), MembershipError> {
        let records = self.lock();
        let Some(kept) = records.rooms.get(name) else {
            return Ok((Vec::new(), 0));
        };
        let mut members: Vec<_> = kept.members.iter().collect();
        members.sort_by_key(|(_, (role, order))| (std::cmp::Reverse(*role), *order));
        let total = members.len() as u64;
        let listed = members
            .into_iter()
            .take(limit)
            .map(|(user, (role, _))| Member {
                user: *user,
                role: *role,
            })
            .collect();
        Ok((listed, total))
    }

    async fn banned(&self, name: &RoomName) -> Result<Vec<UserId>, MembershipError> {
        Ok(self
            .lock()
            .rooms
            .get(name)
            .map(|kept| kept.banned.clone())
            .unwrap_or_default())
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<(Room, Role)>, MembershipError> {
        let records = self.lock();
        let mut rooms: Vec<_> = records
            .rooms
            .values()
            .filter_map(|kept| {
                kept.members
                    .get(&user)
                    .map(|(role, order)| (*order, *role, kept))
            })
            .collect();
        rooms.sort_by_key(|(order, ..)| *order);
        Ok(rooms
            .into_iter()
            .map(|(_, role, kept)| (kept.room.clone(), role))
            .collect())
    }

    async fn directory(&self) -> Result<Vec<Listing>, MembershipError> {
        let records = self.lock();
        let mut listings: Vec<_> = records
            .rooms
            .values()
            .filter(|kept| kept.room.kind == RoomKind::Public)
            .map(|kept| Listing {
                room: kept.room.clone(),
                members: kept.members.len() as u64,
            })
            .collect();
        listings.sort_by(|a, b| {
            b.members
                .cmp(&a.members)
                .then_with(|| a.room.name.as_str().cmp(b.room.name.as_str()))
        });
        Ok(listings)
    }

    async fn moderate(
        &self,
        name: &RoomName,
        actor: UserId,
        action: &Moderation,
    ) -> Result<(), MembershipError> {
        let mut records = self.lock();
        let kept = records.kept(name)?;
        match action {
            Moderation::DeletedMessage(_) => {}
            Moderation::RemovedMember(user) => {
                kept.members.remove(user).ok_or(MembershipError::Missing)?;
            }
            Moderation::Banned(user) => {
                kept.members.remove(user);
                if !kept.banned.contains(user) {
                    kept.banned.push(*user);
                }
            }
            Moderation::Unbanned(user) => {
                let before = kept.banned.len();
                kept.banned.retain(|banned| banned != user);
                if kept.banned.len() == before {
                    return Err(MembershipError::Missing);
                }
            }
            Moderation::Topic(topic) => kept.room.topic = topic.clone(),
            Moderation::Role(user, role) => {
                let (held, _) = kept.members.get_mut(user).ok_or(MembershipError::Missing)?;
                *held = *role;
            }
        }
        kept.log.push(LogEntry {
            actor,
            action: action.clone(),
            at_ms: crate::clock::unix_ms(),
        });
        Ok(())
    }

    async fn log(&self, name: &RoomName, limit: usize) -> Result<Vec<LogEntry>, MembershipError> {
        let records = self.lock();
        Ok(records
            .rooms
            .get(name)
            .map(|kept| kept.log.iter().rev().take(limit).cloned().collect())
            .unwrap_or_default())
    }
}
