//! Caps on open sockets: per user on this instance (`MAX_SOCKETS_PER_USER`) and in all on this
//! instance (`MAX_SOCKETS`). A socket is admitted before its upgrade and holds a [`Ticket`] for
//! its life; dropping the ticket gives the place back. One short lock per socket open and close,
//! never on the message path.

use app::protocol::UserId;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// Who has sockets open here, and how many.
#[derive(Clone, Default)]
pub struct Admission {
    inner: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    total: u32,
    per_user: HashMap<UserId, u32>,
}

/// Why a socket was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The user has `MAX_SOCKETS_PER_USER` open here already.
    UserCap,
    /// The instance has `MAX_SOCKETS` open.
    Full,
}

/// A socket's place; given back when dropped.
pub struct Ticket {
    admission: Admission,
    user: UserId,
}

impl Admission {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits one more socket of `user`, unless a cap is reached.
    pub fn admit(&self, user: UserId, per_user: u32, total: u32) -> Result<Ticket, Refusal> {
        let mut counts = self.counts();
        if counts.total >= total {
            return Err(Refusal::Full);
        }
        let mine = counts.per_user.entry(user).or_default();
        if *mine >= per_user {
            return Err(Refusal::UserCap);
        }
        *mine += 1;
        counts.total += 1;
        Ok(Ticket {
            admission: self.clone(),
            user,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.admission.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(mine) = counts.per_user.get_mut(&self.user) {
            *mine -= 1;
            if *mine == 0 {
                counts.per_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_places_come_back() {
        let admission = Admission::default();
        let (alice, bob) = (
            UserId(uuid::Uuid::from_u128(1)),
            UserId(uuid::Uuid::from_u128(2)),
        );
        let first = admission.admit(alice, 2, 3).unwrap();
        let _second = admission.admit(alice, 2, 3).unwrap();
        assert_eq!(admission.admit(alice, 2, 3).err(), Some(Refusal::UserCap));
        let _bob = admission.admit(bob, 2, 3).unwrap();
        assert_eq!(admission.admit(bob, 2, 3).err(), Some(Refusal::Full));
        drop(first);
        assert!(
            admission.admit(alice, 2, 3).is_ok(),
            "a closed socket's place is free"
        );
        assert_eq!(admission.counts().per_user.len(), 2);
    }
}
