//! An account's handle (the name other people know it by, unique among accounts) and what a
//! password must be.
//!
//! What makes two handles *the same* (case, compatibility forms, look-alike letters from other
//! scripts) is decided on the server, where the confusables table lives (`accounts::HandleKey`);
//! here is only what a handle may look like, which the browser checks too.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Fewest characters in a handle.
pub const MIN_HANDLE_CHARS: usize = 2;
/// Most characters in a handle.
pub const MAX_HANDLE_CHARS: usize = 32;

/// Why a handle was refused. The message is shown to the user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleError {
    #[error("A handle needs {MIN_HANDLE_CHARS} to {MAX_HANDLE_CHARS} characters.")]
    Length,
    #[error("A handle may contain only letters, digits, '.', '-' and '_', and starts with a letter or digit.")]
    Character,
    /// Letters from several scripts in one handle ("pаypal" with a Cyrillic а): a way to pass for
    /// someone else.
    #[error("A handle cannot mix letters from different alphabets.")]
    MixedScripts,
}

/// Fewest characters in a password (NIST SP 800-63B's floor: length, not composition rules).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most characters in a password: room for any passphrase, not for a megabyte to hash.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Why a new password was refused. The message is shown to the user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordError {
    #[error("A password needs at least {MIN_PASSWORD_CHARS} characters.")]
    TooShort,
    #[error("A password can have at most {MAX_PASSWORD_CHARS} characters.")]
    TooLong,
    /// One of the passwords attackers try first, a keyboard walk, or a variation on the handle.
    #[error("That password is among the first ones attackers try. A few unrelated words make a strong one.")]
    TooCommon,
}

/// A handle as its owner wrote it ("Ada"), without the `@` people type in front of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

impl Handle {
    /// Trims `raw` and drops one leading `@`; then checks the length and the characters.
    pub fn parse(raw: &str) -> Result<Self, HandleError> {
        let raw = raw.trim();
        let handle = raw.strip_prefix('@').unwrap_or(raw);
        let chars = handle.chars().count();
        if !(MIN_HANDLE_CHARS..=MAX_HANDLE_CHARS).contains(&chars) {
            return Err(HandleError::Length);
        }
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-' | '_');
        let starts_well = handle.chars().next().is_some_and(char::is_alphanumeric);
        if !starts_well || !handle.chars().all(allowed) {
            return Err(HandleError::Character);
        }
        Ok(Self(handle.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Handle {
    type Error = HandleError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Handle> for String {
    fn from(value: Handle) -> Self {
        value.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_is_letters_digits_and_a_little_punctuation() {
        assert_eq!(Handle::parse(" @Ada ").unwrap().as_str(), "Ada");
        assert_eq!(
            Handle::parse("grace.hopper_1").unwrap().as_str(),
            "grace.hopper_1"
        );
        assert_eq!(Handle::parse("Ωμέγα").unwrap().as_str(), "Ωμέγα");
        assert_eq!(Handle::parse("a"), Err(HandleError::Length));
        assert_eq!(Handle::parse(&"a".repeat(33)), Err(HandleError::Length));
        assert_eq!(Handle::parse("ada lovelace"), Err(HandleError::Character));
        assert_eq!(Handle::parse("_ada"), Err(HandleError::Character));
        assert_eq!(Handle::parse("ad\u{202e}a"), Err(HandleError::Character));
        assert_eq!(Handle::parse("@@ada"), Err(HandleError::Character));
    }
}
