//! The rooms each person has open, in this process's memory.

use crate::backend::{BackendError, RoomLists};
use app::protocol::{RoomName, UserId, MAX_ROOMS_PER_SOCKET};
use async_trait::async_trait;
use std::{collections::HashMap, sync::Mutex};

#[derive(Default)]
pub struct MemoryRoomLists {
    lists: Mutex<HashMap<UserId, Vec<RoomName>>>,
}

impl MemoryRoomLists {
    fn lists(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Vec<RoomName>>> {
        self.lists.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl RoomLists for MemoryRoomLists {
    async fn rooms(&self, user: UserId) -> Result<Vec<RoomName>, BackendError> {
        Ok(self.lists().get(&user).cloned().unwrap_or_default())
    }

    async fn open(&self, user: UserId, room: &RoomName) -> Result<(), BackendError> {
        let mut lists = self.lists();
        let list = lists.entry(user).or_default();
        if !list.contains(room) && list.len() < MAX_ROOMS_PER_SOCKET {
            list.push(room.clone());
        }
        Ok(())
    }

    async fn close(&self, user: UserId, room: &RoomName) -> Result<(), BackendError> {
        let mut lists = self.lists();
        if let Some(list) = lists.get_mut(&user) {
            list.retain(|r| r != room);
            if list.is_empty() {
                lists.remove(&user);
            }
        }
        Ok(())
    }
}
