//! Mentions: `@handle` in a message's text names the account with that handle. Read the same
//! way by the page that highlights them and by what decides to notify the person named.

use super::Handle;
use std::ops::Range;

fn is_handle_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// The mentions in `text`, in order: the byte range of each `@handle` and the handle. An `@`
/// counts when it starts the text or follows a character that cannot be in a handle (so
/// `ada@example.com` names nobody), and is followed by a handle's characters; the `.`, `-` and
/// `_` that end a sentence ("thanks @ada.") are not part of it.
pub fn mentions(text: &str) -> impl Iterator<Item = (Range<usize>, &str)> + '_ {
    text.char_indices().filter_map(move |(at, c)| {
        if c != '@' || text[..at].chars().next_back().is_some_and(is_handle_char) {
            return None;
        }
        let rest = &text[at + 1..];
        let end = rest.find(|c| !is_handle_char(c)).unwrap_or(rest.len());
        let handle = rest[..end].trim_end_matches(['.', '-', '_']);
        Handle::parse(handle)
            .is_ok()
            .then(|| (at..at + 1 + handle.len(), handle))
    })
}

/// Whether `text` mentions `handle` (in any case: `@Ada` is `@ada`).
pub fn mentions_handle(text: &str, handle: &Handle) -> bool {
    let wanted = handle.as_str().to_lowercase();
    mentions(text).any(|(_, named)| named.to_lowercase() == wanted)
}

/// The handle being typed at the end of `before` (what precedes the caret), if the caret is in
/// a mention: `"hi @ad"` → `"ad"`, `"hi @"` → `""`. Autocomplete offers the members it starts.
pub fn mention_at_end(before: &str) -> Option<&str> {
    let at = before.rfind('@')?;
    let typed = &before[at + 1..];
    let starts = before[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !is_handle_char(c));
    (starts && typed.chars().all(is_handle_char)).then_some(typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(text: &str) -> Vec<&str> {
        mentions(text).map(|(_, handle)| handle).collect()
    }

    #[test]
    fn an_at_before_a_handle_names_it() {
        assert_eq!(
            named("@ada hi @Grace.Hopper, and @bob."),
            ["ada", "Grace.Hopper", "bob"]
        );
        assert_eq!(named("mail ada@example.com or @ or @x or @@ada"), ["ada"]);
        let text = "thanks @ada!";
        let (range, _) = mentions(text).next().unwrap();
        assert_eq!(&text[range], "@ada");
        assert!(mentions_handle("hey @ADA", &Handle::parse("ada").unwrap()));
        assert!(!mentions_handle(
            "hey @adam",
            &Handle::parse("ada").unwrap()
        ));
    }

    #[test]
    fn the_mention_being_typed_is_found_at_the_caret() {
        assert_eq!(mention_at_end("hi @ad"), Some("ad"));
        assert_eq!(mention_at_end("@"), Some(""));
        assert_eq!(mention_at_end("mail ada@ex"), None);
        assert_eq!(mention_at_end("hi @ada and"), None);
    }
}
