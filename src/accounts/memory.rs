//! Accounts in this process's memory: the embedded default when no database is configured. They
//! last as long as the process, and one instance sees them (start-up says so in the log).

use super::{Account, AccountError, AccountStore, HandleKey, PasswordHash};
use app::protocol::UserId;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryAccounts(Mutex<Accounts>);

#[derive(Default)]
struct Accounts {
    by_id: HashMap<UserId, Account>,
    by_key: HashMap<HandleKey, UserId>,
    by_identity: HashMap<(String, String), UserId>,
}

impl Accounts {
    fn insert(&mut self, account: &Account) -> Result<(), AccountError> {
        let key = HandleKey::of(&account.handle);
        if self.by_key.contains_key(&key) {
            return Err(AccountError::HandleTaken);
        }
        self.by_key.insert(key, account.id);
        self.by_id.insert(account.id, account.clone());
        Ok(())
    }
}

impl MemoryAccounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Accounts> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl AccountStore for MemoryAccounts {
    async fn create(&self, account: &Account) -> Result<(), AccountError> {
        self.lock().insert(account)
    }

    async fn by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Account>, AccountError> {
        let accounts = self.lock();
        Ok(accounts
            .by_identity
            .get(&(issuer.to_owned(), subject.to_owned()))
            .and_then(|id| accounts.by_id.get(id))
            .cloned())
    }

    async fn create_with_identity(
        &self,
        account: &Account,
        issuer: &str,
        subject: &str,
    ) -> Result<(), AccountError> {
        let mut accounts = self.lock();
        accounts.insert(account)?;
        accounts
            .by_identity
            .insert((issuer.to_owned(), subject.to_owned()), account.id);
        Ok(())
    }

    async fn by_handle(&self, key: &HandleKey) -> Result<Option<Account>, AccountError> {
        let accounts = self.lock();
        Ok(accounts
            .by_key
            .get(key)
            .and_then(|id| accounts.by_id.get(id))
            .cloned())
    }

    async fn by_id(&self, id: UserId) -> Result<Option<Account>, AccountError> {
        Ok(self.lock().by_id.get(&id).cloned())
    }

    async fn by_ids(&self, ids: &[UserId]) -> Result<Vec<Account>, AccountError> {
        let accounts = self.lock();
        let mut seen = std::collections::HashSet::new();
        Ok(ids
            .iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| accounts.by_id.get(id).cloned())
            .collect())
    }

    async fn set_password(&self, id: UserId, hash: &PasswordHash) -> Result<bool, AccountError> {
        Ok(self
            .lock()
            .by_id
            .get_mut(&id)
            .map(|account| account.password = Some(hash.clone()))
            .is_some())
    }

    async fn delete(&self, id: UserId) -> Result<bool, AccountError> {
        let mut accounts = self.lock();
        let Some(account) = accounts.by_id.remove(&id) else {
            return Ok(false);
        };
        accounts.by_key.remove(&HandleKey::of(&account.handle));
        accounts.by_identity.retain(|_, owner| *owner != id);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_accounts_keep_the_contract() {
        super::super::contract::holds(&super::MemoryAccounts::default()).await;
    }
}
