//! Passwords: what a new one must be, and how one is kept and checked.
//!
//! Kept as Argon2id PHC strings with OWASP's parameters (19 MiB, 2 passes, 1 lane: the
//! RustCrypto defaults), hashed and verified on the blocking pool (tens of milliseconds of CPU
//! each, which must not stall the sockets of the same runtime). The comparison inside `verify` is
//! constant-time. A sign-in for a handle that has no account verifies against a stand-in hash,
//! so it costs what a wrong password costs and the answer's timing does not tell them apart.
//!
//! The policy is length, not composition: at least 8 characters, and not among the passwords
//! attackers try first (zxcvbn's estimate under 10^6 guesses: the common-password lists,
//! keyboard walks, repeats, dates, and variations on the person's own handle and name).

use app::protocol::{PasswordError, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use std::{fmt, sync::LazyLock};

/// A stored password hash (a PHC string). Never shown in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

impl PasswordHash {
    /// A hash as the store returns it.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hashes `password` with a fresh salt (on the blocking pool).
    pub async fn new(password: String) -> Self {
        tokio::task::spawn_blocking(move || Self::hash_now(&password))
            .await
            .expect("hashing does not panic")
    }

    fn hash_now(password: &str) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let phc = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .expect("Argon2 with default parameters hashes any password")
            .to_string();
        Self(phc)
    }

    /// Whether `password` is the one this hash was made from (on the blocking pool). A hash that
    /// cannot be read matches nothing.
    pub async fn verify(&self, password: String) -> bool {
        let phc = self.0.clone();
        tokio::task::spawn_blocking(move || verify_now(&phc, &password))
            .await
            .unwrap_or(false)
    }

    /// Spends what [`Self::verify`] spends, for a sign-in with no account behind it. Always
    /// `false`.
    pub async fn verify_nothing(password: String) -> bool {
        static STAND_IN: LazyLock<PasswordHash> =
            LazyLock::new(|| PasswordHash::hash_now("a stand-in nobody signs in with"));
        let phc = STAND_IN.0.clone();
        tokio::task::spawn_blocking(move || {
            let _ = verify_now(&phc, &password);
        })
        .await
        .ok();
        false
    }
}

fn verify_now(phc: &str, password: &str) -> bool {
    argon2::PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// What a new password must be.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordPolicy;

impl PasswordPolicy {
    /// Checks `password` for someone whose handle and name are `personal` (a password built
    /// from them is weak).
    pub fn check(self, password: &str, personal: &[&str]) -> Result<(), PasswordError> {
        let chars = password.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(PasswordError::TooLong);
        }
        if zxcvbn::zxcvbn(password, personal).score() < zxcvbn::Score::Two {
            return Err(PasswordError::TooCommon);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_commonness_decide_not_composition() {
        let policy = PasswordPolicy;
        assert_eq!(policy.check("short1!", &[]), Err(PasswordError::TooShort));
        assert_eq!(
            policy.check(&"x".repeat(129), &[]),
            Err(PasswordError::TooLong)
        );
        for common in [
            "password",
            "password1",
            "12345678",
            "qwertyuiop",
            "iloveyou",
            "aaaaaaaaaaaa",
        ] {
            assert_eq!(
                policy.check(common, &[]),
                Err(PasswordError::TooCommon),
                "{common}"
            );
        }
        assert_eq!(
            policy.check("grace.hopper", &["grace.hopper"]),
            Err(PasswordError::TooCommon),
            "the handle itself"
        );
        // No digits, no symbols, no capitals: fine, because it is long and unusual.
        assert_eq!(policy.check("violet tractor lagoon", &[]), Ok(()));
        assert_eq!(policy.check("Tr0ub4dor&3x", &[]), Ok(()));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = PasswordHash::new("violet tractor lagoon".into()).await;
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hash.verify("violet tractor lagoon".into()).await);
        assert!(!hash.verify("violet tractor lagoon ".into()).await);
        assert!(
            !PasswordHash::from_stored("not a hash".into())
                .verify("x".into())
                .await
        );
        assert!(!PasswordHash::verify_nothing("violet tractor lagoon".into()).await);
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
    }
}
