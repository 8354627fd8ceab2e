//! When two handles are the same handle.
//!
//! People read "Alice", "alice", "ａｌｉｃｅ" (fullwidth) and "аlice" (with a Cyrillic а) as one
//! name, so one account may hold them all. The key is the Unicode confusable *skeleton* (UTS #39)
//! of the handle after compatibility normalisation (NFKC) and case folding: handles whose keys
//! are equal are the same handle. The handle itself stays as its owner wrote it.

use app::protocol::{Handle, HandleError};
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_security::{confusable_detection::skeleton, MixedScript};

/// What makes handles equal: the one spelling all of a handle's look-alikes share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HandleKey(String);

impl HandleKey {
    pub fn of(handle: &Handle) -> Self {
        Self::of_text(handle.as_str())
    }

    /// The key of any text: a guest's name is checked against the accounts' handles with it.
    pub fn of_text(text: &str) -> Self {
        let folded: String = text.nfkc().flat_map(char::to_lowercase).collect();
        let skeleton: String = skeleton(&folded).collect();
        // Some prototypes the skeleton maps to are upper case: fold once more.
        Self(skeleton.nfc().flat_map(char::to_lowercase).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HandleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A handle for a new account: one script only (after NFKC), so a Latin name cannot hide a
/// Cyrillic letter that the skeleton would not catch.
pub fn new_handle(raw: &str) -> Result<Handle, HandleError> {
    let handle = Handle::parse(raw)?;
    let normal: String = handle.as_str().nfkc().collect();
    if !normal.as_str().is_single_script() {
        return Err(HandleError::MixedScripts);
    }
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> HandleKey {
        HandleKey::of(&Handle::parse(raw).unwrap())
    }

    #[test]
    fn look_alikes_share_a_key() {
        let alice = key("alice");
        assert_eq!(key("Alice"), alice);
        assert_eq!(key("ALICE"), alice);
        assert_eq!(key("ａｌｉｃｅ"), alice, "fullwidth");
        assert_eq!(key("аlice"), alice, "Cyrillic а");
        assert_eq!(key("АLICE"), alice, "Cyrillic А");
        assert_eq!(key("a1ice"), alice, "digit 1 for l");
        assert_eq!(key("rnodern"), key("modern"), "r n for m");
        // Case folds first: a capital I is an i, so "aIice" is its own handle (shown as typed).
        assert_ne!(key("aIice"), alice);
        assert_ne!(key("alicia"), alice);
        assert_ne!(key("bob"), alice);
    }

    #[test]
    fn a_new_handle_keeps_to_one_script() {
        assert!(new_handle("alice").is_ok());
        assert!(new_handle("Алиса").is_ok());
        assert!(new_handle("ada_1984").is_ok());
        assert_eq!(new_handle("аlice"), Err(HandleError::MixedScripts));
    }
}
