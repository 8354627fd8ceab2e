//! The room calls (`app::conversations`): making rooms and direct conversations, inviting,
//! removing and banning, leaving, topics and roles, each checked against the caller's standing
//! in the durable records ([`crate::memberships`]).
//!
//! A change that takes someone out of a room is done in this order: the records first (so every
//! door refuses them from then on, whichever instance it is on, and an instance that dies next
//! changes nothing), then their open rooms, then the news to every instance subscribed to the
//! room ([`Signals::removed`]), whose sockets of theirs drop it. News that is lost (Redis
//! unreachable, a subscriber that went deaf) is an interruption for those instances, and a socket
//! asks the records again before it backfills, so a lost announcement delays a removal but never
//! undoes it.
//!
//! Who may do what:
//! - anyone signed in with an account makes rooms and direct conversations (guests cannot);
//! - any member invites to a private or public room (a direct conversation's people are fixed:
//!   a new set of people is a new conversation);
//! - moderators remove and ban members below their role and set the topic; the owner also names
//!   moderators; server admins (`ADMINS`) may do all of it in any room but a direct one, whose
//!   people have no moderators;
//! - anyone leaves;
//! - moderators delete messages: the log blanks the message for every later read and records
//!   the deletion as the room's next message, so live sockets and resumes learn of it
//!   ([`MessageLog::delete`]);
//! - server admins end a person's sign-ins everywhere (their sockets close on every instance).

use crate::accounts::{AccountStore, HandleKey};
use crate::backend::{Amended, MessageLog, PresenceStore, RoomLists, Signals};
use crate::memberships::{
    DirectKey, Member, MembershipError, Memberships, Moderation, Role, Room, RoomKind, Standing,
};
use crate::sign_ins::SignIns;
use app::calls::Pending;
use app::conversations::{
    ssr::Steward, Listing, LogLine, MemberInfo, RoomDetails, RoomError, RoomInfo,
    MAX_DIRECT_PEOPLE, MAX_LISTED_MEMBERS, MAX_TITLE_CHARS, MAX_TOPIC_CHARS,
};
use app::protocol::{Draft, Handle, MessageId, Removal, RoomName, User, UserId, MAX_ROOM_CHARS};
use std::{collections::HashMap, sync::Arc};

/// Most public rooms the directory lists.
const DIRECTORY_LIMIT: usize = 100;
/// Most lines of a moderation log one call returns.
const LOG_LIMIT: usize = 200;

/// What the room calls work with.
pub struct Conversations {
    pub memberships: Arc<dyn Memberships>,
    pub accounts: Arc<dyn AccountStore>,
    pub signals: Arc<dyn Signals>,
    pub room_lists: Arc<dyn RoomLists>,
    pub presence: Arc<dyn PresenceStore>,
    pub log: Arc<dyn MessageLog>,
    /// What ends a person's sign-ins, for the admins.
    pub sign_ins: Arc<SignIns>,
    /// The handles of the server's admins (`ADMINS`).
    pub admins: Vec<HandleKey>,
}

/// What the caller may do in a room, once it is known they may see it.
struct Standpoint {
    room: Room,
    role: Option<Role>,
    admin: bool,
}

impl Standpoint {
    /// The role the caller acts with: an admin acts as the room's owner.
    fn acting(&self) -> Option<Role> {
        if self.admin && self.room.kind != RoomKind::Direct {
            return Some(Role::Owner);
        }
        self.role
    }

    fn moderates(&self) -> bool {
        self.room.kind != RoomKind::Direct && self.acting() >= Some(Role::Moderator)
    }

    fn info(&self) -> RoomInfo {
        info(&self.room, self.role, self.moderates())
    }
}

impl Conversations {
    fn is_admin(&self, user: &User) -> bool {
        user.handle
            .as_ref()
            .is_some_and(|handle| self.admins.contains(&HandleKey::of(handle)))
    }

    /// The room and the caller's place in it, if they may see it: a member, or anyone not
    /// banned for a public room. Everything else is "not found".
    async fn standpoint(&self, actor: &User, name: &RoomName) -> Result<Standpoint, RoomError> {
        let found = self
            .memberships
            .standing(name, actor.id)
            .await
            .map_err(failed)?;
        let (room, standing) = found.ok_or(RoomError::NotFound)?;
        let admin = self.is_admin(actor);
        let role = match standing {
            Standing::Member(role) => Some(role),
            Standing::Outsider if room.kind == RoomKind::Public || admin => None,
            Standing::Banned if admin => None,
            Standing::Banned if room.kind == RoomKind::Public => return Err(RoomError::Forbidden),
            _ => return Err(RoomError::NotFound),
        };
        if room.kind == RoomKind::Direct && role.is_none() {
            return Err(RoomError::NotFound);
        }
        Ok(Standpoint { room, role, admin })
    }

    /// The standpoint of a caller who must moderate the room.
    async fn moderator(&self, actor: &User, name: &RoomName) -> Result<Standpoint, RoomError> {
        let standpoint = self.standpoint(actor, name).await?;
        if !standpoint.moderates() {
            return Err(RoomError::Forbidden);
        }
        Ok(standpoint)
    }

    async fn account(&self, raw: &str) -> Result<User, RoomError> {
        let raw = raw.trim().trim_start_matches('@');
        let unknown = || RoomError::NoSuchPerson(raw.to_owned());
        let handle = Handle::parse(raw).map_err(|_| unknown())?;
        let account = self
            .accounts
            .by_handle(&HandleKey::of(&handle))
            .await
            .map_err(failed)?;
        Ok(account.ok_or_else(unknown)?.user())
    }

    /// The people behind some ids, in one look-up; deleted accounts are missing.
    async fn people(
        &self,
        ids: impl IntoIterator<Item = UserId>,
    ) -> Result<HashMap<UserId, User>, RoomError> {
        let ids: Vec<UserId> = ids.into_iter().collect();
        let accounts = self.accounts.by_ids(&ids).await.map_err(failed)?;
        Ok(accounts
            .into_iter()
            .map(|account| (account.id, account.user()))
            .collect())
    }

    /// `user` is out of `room` (the records say so already): off their list, and every
    /// instance told. Both are best effort; see the module's notes.
    async fn taken_out(&self, room: &RoomName, user: UserId, reason: Removal) {
        if let Err(e) = self.room_lists.close(user, room).await {
            tracing::warn!(error = %e, %room, "could not take a room off a person's list");
        }
        if let Err(e) = self.signals.removed(room, user, reason).await {
            tracing::warn!(error = %e, %room, "could not announce a removal; sockets will ask the records");
        }
        tracing::info!(%room, %user, ?reason, "taken out of a room");
    }

    /// Puts `room` on the lists of `people`, so their pages open it.
    async fn listed(&self, room: &RoomName, people: &[UserId]) {
        for person in people {
            if let Err(e) = self.room_lists.open(*person, room).await {
                tracing::warn!(error = %e, %room, "could not put a room on a person's list");
            }
        }
    }

    async fn create(
        &self,
        actor: &User,
        title: String,
        topic: String,
        private: bool,
    ) -> Result<RoomInfo, RoomError> {
        if actor.is_guest() {
            return Err(RoomError::AccountsOnly);
        }
        let title = text("A title", &title, MAX_TITLE_CHARS, false)?;
        let topic = text("A topic", &topic, MAX_TOPIC_CHARS, true)?;
        let name = match private {
            true => RoomName::new_private(),
            false => address_of(&title)?,
        };
        let room = Room {
            name: name.clone(),
            kind: if private {
                RoomKind::Private
            } else {
                RoomKind::Public
            },
            title,
            topic,
            created_by: Some(actor.id),
        };
        let owner = Member {
            user: actor.id,
            role: Role::Owner,
        };
        match self.memberships.create(&room, &[owner]).await {
            Ok(()) => {}
            Err(MembershipError::Taken) => return Err(RoomError::Taken),
            Err(e) => return Err(failed(e)),
        }
        tracing::info!(room = %name, kind = room.kind.as_str(), "room created");
        self.listed(&name, &[actor.id]).await;
        Ok(info(&room, Some(Role::Owner), true))
    }

    async fn direct(&self, actor: &User, handles: Vec<String>) -> Result<RoomInfo, RoomError> {
        if actor.is_guest() {
            return Err(RoomError::AccountsOnly);
        }
        if handles.len() >= MAX_DIRECT_PEOPLE {
            return Err(RoomError::TooManyPeople);
        }
        let mut people = vec![actor.clone()];
        for handle in &handles {
            let person = self.account(handle).await?;
            if !people.iter().any(|p| p.id == person.id) {
                people.push(person);
            }
        }
        let ids: Vec<UserId> = people.iter().map(|p| p.id).collect();
        let key = DirectKey::of(&ids);
        if let Some(room) = self.memberships.direct(&key).await.map_err(failed)? {
            // The opener may have left it: opening it again brings them (only them) back.
            let name = &room.name;
            if self
                .memberships
                .add(name, actor.id, Role::Member)
                .await
                .map_err(failed)?
            {
                self.listed(name, &[actor.id]).await;
            }
            return Ok(info(&room, Some(Role::Member), false));
        }
        let mut names: Vec<&str> = people.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        let room = Room {
            name: RoomName::new_private(),
            kind: RoomKind::Direct,
            title: names.join(", "),
            topic: String::new(),
            created_by: Some(actor.id),
        };
        let members: Vec<Member> = ids
            .iter()
            .map(|&user| Member {
                user,
                role: Role::Member,
            })
            .collect();
        let room = match self.memberships.create(&room, &members).await {
            Ok(()) => room,
            // Someone opened the same conversation at the same moment: theirs is the one.
            Err(MembershipError::Taken) => self
                .memberships
                .direct(&key)
                .await
                .map_err(failed)?
                .ok_or(RoomError::Unavailable)?,
            Err(e) => return Err(failed(e)),
        };
        self.listed(&room.name, &ids).await;
        Ok(info(&room, Some(Role::Member), false))
    }

    async fn directory(&self) -> Result<Vec<Listing>, RoomError> {
        let listings = self.memberships.directory().await.map_err(failed)?;
        let mut out = Vec::with_capacity(listings.len().min(DIRECTORY_LIMIT));
        for listing in listings.into_iter().take(DIRECTORY_LIMIT) {
            // Presence is a convenience: unreadable, it counts nobody.
            let online = self
                .presence
                .online(&listing.room.name)
                .await
                .map_or(0, |users| users.len() as u64);
            out.push(Listing {
                room: info(&listing.room, None, false),
                members: listing.members,
                online,
            });
        }
        Ok(out)
    }

    async fn mine(&self, actor: &User) -> Result<Vec<RoomInfo>, RoomError> {
        let admin = self.is_admin(actor);
        let rooms = self.memberships.rooms_of(actor.id).await.map_err(failed)?;
        Ok(rooms
            .iter()
            .map(|(room, role)| {
                let standpoint = Standpoint {
                    room: room.clone(),
                    role: Some(*role),
                    admin,
                };
                standpoint.info()
            })
            .collect())
    }

    async fn details(&self, actor: &User, name: RoomName) -> Result<RoomDetails, RoomError> {
        let standpoint = self.standpoint(actor, &name).await?;
        let (members, total) = self
            .memberships
            .members(&name, MAX_LISTED_MEMBERS)
            .await
            .map_err(failed)?;
        let unlisted = total.saturating_sub(members.len() as u64);
        let banned = match standpoint.moderates() {
            true => self.memberships.banned(&name).await.map_err(failed)?,
            false => Vec::new(),
        };
        let mut people = self
            .people(members.iter().map(|m| m.user).chain(banned.iter().copied()))
            .await?;
        let shown = members
            .into_iter()
            .filter_map(|member| {
                let user = people.remove(&member.user)?;
                Some(MemberInfo {
                    user,
                    role: member.role,
                })
            })
            .collect();
        Ok(RoomDetails {
            room: standpoint.info(),
            members: shown,
            unlisted,
            banned: banned.iter().filter_map(|id| people.remove(id)).collect(),
            admin: standpoint.admin,
        })
    }

    async fn invite(
        &self,
        actor: &User,
        name: RoomName,
        handle: String,
    ) -> Result<MemberInfo, RoomError> {
        if actor.is_guest() {
            return Err(RoomError::AccountsOnly);
        }
        let standpoint = self.standpoint(actor, &name).await?;
        if standpoint.room.kind == RoomKind::Direct || standpoint.acting().is_none() {
            return Err(RoomError::Forbidden);
        }
        let person = self.account(&handle).await?;
        let added = self
            .memberships
            .add(&name, person.id, Role::Member)
            .await
            .map_err(failed)?;
        if added {
            tracing::info!(room = %name, user = %person.id, "invited");
            self.listed(&name, &[person.id]).await;
            return Ok(MemberInfo {
                user: person,
                role: Role::Member,
            });
        }
        // Not added: a member already (with the role they had), or banned.
        let standing = self
            .memberships
            .standing(&name, person.id)
            .await
            .map_err(failed)?;
        match standing {
            Some((_, Standing::Member(role))) => Ok(MemberInfo { user: person, role }),
            Some((_, Standing::Banned)) => Err(RoomError::Banned),
            // Taken out, or the room deleted, since the look.
            _ => Err(RoomError::NotFound),
        }
    }

    async fn remove(
        &self,
        actor: &User,
        name: RoomName,
        user: UserId,
        ban: bool,
    ) -> Result<(), RoomError> {
        let standpoint = self.moderator(actor, &name).await?;
        let target = self
            .memberships
            .standing(&name, user)
            .await
            .map_err(failed)?;
        let acting = standpoint.acting();
        match target.map(|(_, standing)| standing) {
            // Nobody takes out someone of their own rank or above, but a server admin.
            Some(Standing::Member(role)) if Some(role) >= acting && !standpoint.admin => {
                return Err(RoomError::Forbidden);
            }
            Some(Standing::Member(_)) => {}
            // A ban may come before someone joins a public room; a removal needs a member.
            Some(Standing::Outsider) if ban => {}
            Some(Standing::Banned) if ban => return Ok(()),
            _ => return Err(RoomError::NotFound),
        }
        let (action, reason) = match ban {
            true => (Moderation::Banned(user), Removal::Banned),
            false => (Moderation::RemovedMember(user), Removal::Removed),
        };
        match self.memberships.moderate(&name, actor.id, &action).await {
            Ok(()) => {}
            // Left or taken out meanwhile: what was asked for is so.
            Err(MembershipError::Missing) => {}
            Err(e) => return Err(failed(e)),
        }
        self.taken_out(&name, user, reason).await;
        Ok(())
    }

    async fn unban(&self, actor: &User, name: RoomName, user: UserId) -> Result<(), RoomError> {
        self.moderator(actor, &name).await?;
        match self
            .memberships
            .moderate(&name, actor.id, &Moderation::Unbanned(user))
            .await
        {
            Ok(()) => Ok(()),
            Err(MembershipError::Missing) => Err(RoomError::NotFound),
            Err(e) => Err(failed(e)),
        }
    }

    async fn leave(&self, actor: &User, name: RoomName) -> Result<(), RoomError> {
        let standpoint = match self.standpoint(actor, &name).await {
            Ok(standpoint) => standpoint,
            // A banned person's list may still name the room: let them take it off.
            Err(RoomError::Forbidden) => {
                self.taken_out(&name, actor.id, Removal::Left).await;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if standpoint.role.is_some() {
            self.memberships
                .leave(&name, actor.id)
                .await
                .map_err(failed)?;
        }
        self.taken_out(&name, actor.id, Removal::Left).await;
        Ok(())
    }

    async fn topic(
        &self,
        actor: &User,
        name: RoomName,
        topic: String,
    ) -> Result<RoomInfo, RoomError> {
        let mut standpoint = self.moderator(actor, &name).await?;
        let topic = text("A topic", &topic, MAX_TOPIC_CHARS, true)?;
        let action = Moderation::Topic(topic.clone());
        self.memberships
            .moderate(&name, actor.id, &action)
            .await
            .map_err(failed)?;
        standpoint.room.topic = topic;
        Ok(standpoint.info())
    }

    async fn role(
        &self,
        actor: &User,
        name: RoomName,
        user: UserId,
        role: Role,
    ) -> Result<(), RoomError> {
        let standpoint = self.moderator(actor, &name).await?;
        if standpoint.acting() != Some(Role::Owner) || role == Role::Owner {
            return Err(RoomError::Forbidden);
        }
        let target = self
            .memberships
            .standing(&name, user)
            .await
            .map_err(failed)?;
        match target.map(|(_, standing)| standing) {
            Some(Standing::Member(Role::Owner)) => Err(RoomError::Forbidden),
            Some(Standing::Member(held)) if held == role => Ok(()),
            Some(Standing::Member(_)) => self
                .memberships
                .moderate(&name, actor.id, &Moderation::Role(user, role))
                .await
                .map_err(failed),
            _ => Err(RoomError::NotFound),
        }
    }

    async fn delete_message(
        &self,
        actor: &User,
        name: RoomName,
        id: MessageId,
    ) -> Result<(), RoomError> {
        // Whoever may read the room (a guest in a public one too) may take back their own
        // message; only that is tried first, so a moderator's own deletions are not moderation
        // and stay out of the log.
        let standpoint = self.standpoint(actor, &name).await?;
        let record = Draft::deletion(actor.clone(), id);
        let own = self.log.amend(&name, &record, Some(actor.id));
        match own.await.map_err(failed)? {
            Amended::Stored(_) | Amended::Unchanged => return Ok(()),
            Amended::NotFound | Amended::TooMany => return Err(RoomError::NotFound),
            Amended::NotTheirs if !standpoint.moderates() => return Err(RoomError::Forbidden),
            Amended::NotTheirs => {}
        }
        match self.log.amend(&name, &record, None).await.map_err(failed)? {
            Amended::Stored(_) => {}
            // Deleted by someone else (or a retry): what was asked for is so.
            Amended::Unchanged => return Ok(()),
            Amended::NotFound | Amended::NotTheirs | Amended::TooMany => {
                return Err(RoomError::NotFound)
            }
        }
        // The deletion is done and cannot wait on the records; a lost log line is logged here.
        let action = Moderation::DeletedMessage(id);
        if let Err(e) = self.memberships.moderate(&name, actor.id, &action).await {
            tracing::error!(error = %e, room = %name, message = %id, moderator = %actor.id, "a message was deleted but the moderation log could not record it");
        }
        Ok(())
    }

    async fn end_sessions(&self, actor: &User, handle: String) -> Result<(), RoomError> {
        if !self.is_admin(actor) {
            return Err(RoomError::Forbidden);
        }
        let person = self.account(&handle).await?;
        self.sign_ins
            .end_everywhere(person.id)
            .await
            .map_err(failed)?;
        tracing::warn!(admin = %actor.id, user = %person.id, "an admin ended every sign-in of an account");
        Ok(())
    }

    async fn log(&self, actor: &User, name: RoomName) -> Result<Vec<LogLine>, RoomError> {
        self.moderator(actor, &name).await?;
        let entries = self
            .memberships
            .log(&name, LOG_LIMIT)
            .await
            .map_err(failed)?;
        let named = entries
            .iter()
            .flat_map(|entry| std::iter::once(entry.actor).chain(entry.action.target()));
        let people = self.people(named).await?;
        let person = |id: UserId| people.get(&id).cloned();
        Ok(entries
            .into_iter()
            .map(|entry| {
                let detail = match &entry.action {
                    Moderation::DeletedMessage(id) => Some(id.to_string()),
                    Moderation::Topic(topic) => Some(topic.clone()),
                    Moderation::Role(_, role) => Some(role.as_str().to_owned()),
                    _ => None,
                };
                LogLine {
                    actor: person(entry.actor),
                    action: entry.action.action().to_owned(),
                    target: entry.action.target().and_then(person),
                    detail,
                    at_ms: entry.at_ms,
                }
            })
            .collect())
    }
}

impl Steward for Conversations {
    fn create<'a>(
        &'a self,
        actor: &'a User,
        title: String,
        topic: String,
        private: bool,
    ) -> Pending<'a, Result<RoomInfo, RoomError>> {
        Box::pin(Conversations::create(self, actor, title, topic, private))
    }

    fn direct<'a>(
        &'a self,
        actor: &'a User,
        handles: Vec<String>,
    ) -> Pending<'a, Result<RoomInfo, RoomError>> {
        Box::pin(Conversations::direct(self, actor, handles))
    }

    fn directory<'a>(&'a self, _actor: &'a User) -> Pending<'a, Result<Vec<Listing>, RoomError>> {
        Box::pin(Conversations::directory(self))
    }

    fn mine<'a>(&'a self, actor: &'a User) -> Pending<'a, Result<Vec<RoomInfo>, RoomError>> {
        Box::pin(Conversations::mine(self, actor))
    }

    fn details<'a>(
        &'a self,
        actor: &'a User,
        room: RoomName,
    ) -> Pending<'a, Result<RoomDetails, RoomError>> {
        Box::pin(Conversations::details(self, actor, room))
    }

    fn invite<'a>(
        &'a self,
        actor: &'a User,
        room: RoomName,
        handle: String,
    ) -> Pending<'a, Result<MemberInfo, RoomError>> {
        Box::pin(Conversations::invite(self, actor, room, handle))
    }

    fn remove<'a>(
        &'a self,
        actor: &'a User,
        room: RoomName,
        user: UserId,
        ban: bool,
    ) -> Pending<'a, Result<(), RoomError>> {
        Box::pin(Conversations::remove(self, actor, room, user, ban))
    }

    fn unban<'a>(
        &'a self,
        actor: &'a User,
        room: RoomName,
        user: UserId,
    ) -> Pending<'a, Result<(), RoomError>> {
        Box::pin(Conversations::unban(self, actor, room, user))
    }

    fn leave<'a>(&'a self, actor: &'a User, room: RoomName) -> Pending<'a, Result<(), RoomError>> {
        Box::pin(Conversations::leave(self, actor, room))
    }

    fn topic<'a>(
        &'a self,
        actor: &'a User,
        room: RoomName,
        topic: String,
    ) -> Pending<'a, Result<RoomInfo, RoomError>> {
        Box::pin(Conversations::topic(self, actor, room, topic))
    }

    fn role<'a>(
        &'a self,
        actor: &'a User,
        room: RoomName,
        user: UserId,
        role: Role,
    ) -> Pending<'a, Result<(), RoomError>> {
        Box::pin(Conversations::role(self, actor, room, user, role))
    }

    fn log<'a>(
        &'a self,
        actor: &'a User,
        room: RoomName,
    ) -> Pending<'a, Result<Vec<LogLine>, RoomError>> {
        Box::pin(Conversations::log(self, actor, room))
    }

    fn delete_message<'a>(
        &'a self,
        actor: &'a User,
        room: RoomName,
        id: MessageId,
    ) -> Pending<'a, Result<(), RoomError>> {
        Box::pin(Conversations::delete_message(self, actor, room, id))
    }

    fn end_sessions<'a>(
        &'a self,
        actor: &'a User,
        handle: String,
    ) -> Pending<'a, Result<(), RoomError>> {
        Box::pin(Conversations::end_sessions(self, actor, handle))
    }
}

fn info(room: &Room, role: Option<Role>, moderates: bool) -> RoomInfo {
    RoomInfo {
        name: room.name.clone(),
        kind: room.kind,
        title: room.title.clone(),
        topic: room.topic.clone(),
        role,
        moderates,
    }
}

/// A title or topic, trimmed: at most `max` characters, none of them control characters, and
/// not empty unless `may_be_empty`.
fn text(what: &str, raw: &str, max: usize, may_be_empty: bool) -> Result<String, RoomError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() && !may_be_empty {
        return Err(RoomError::Invalid(format!("{what} is needed.")));
    }
    if trimmed.chars().count() > max {
        return Err(RoomError::Invalid(format!(
            "{what} has at most {max} characters."
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(RoomError::Invalid(format!(
            "{what} cannot contain control characters."
        )));
    }
    Ok(trimmed.to_owned())
}

/// A public room's address, made from its title: lowercase letters and digits, other runs as one
/// `-`, at most [`MAX_ROOM_CHARS`].
fn address_of(title: &str) -> Result<RoomName, RoomError> {
    let mut address = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            address.push(c);
        } else if !address.is_empty() && !address.ends_with('-') {
            address.push('-');
        }
    }
    let address: String = address.chars().take(MAX_ROOM_CHARS).collect();
    let address = address.trim_end_matches('-');
    RoomName::parse(address).map_err(|_| {
        RoomError::Invalid("A public room's title needs a letter or a digit (a-z, 0-9).".into())
    })
}

fn failed(e: impl std::fmt::Display) -> RoomError {
    tracing::warn!(error = %e, "the room records failed a call");
    RoomError::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_title_gives_its_address() {
        let cases = [
            ("Book Club", "book-club"),
            ("  Rust & WASM!! ", "rust-wasm"),
            ("Café du Monde", "caf-du-monde"),
            ("team_42", "team_42"),
        ];
        for (title, address) in cases {
            assert_eq!(address_of(title).unwrap().as_str(), address, "{title}");
        }
        assert!(address_of("!!!").is_err());
        assert!(address_of("日本語").is_err());
        let long = address_of(&"a".repeat(80)).unwrap();
        assert_eq!(long.as_str().len(), MAX_ROOM_CHARS);
    }

    #[test]
    fn titles_and_topics_are_checked() {
        assert!(text("A title", "  ", 10, false).is_err());
        assert_eq!(text("A topic", "  ", 10, true).unwrap(), "");
        assert!(text("A title", "x\u{7}y", 10, false).is_err());
        assert!(text("A title", &"x".repeat(11), 10, false).is_err());
        assert_eq!(text("A title", " Plans ", 10, false).unwrap(), "Plans");
    }
}
