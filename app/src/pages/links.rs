//! Web addresses in a message become links, and `@handle` mentions stand out; everything else
//! stays text. Only `http` and `https`
//! addresses are linked (never `javascript:` or `data:`), and the text is never parsed as HTML:
//! both kinds of piece are rendered as text nodes or attributes by the view.

/// A piece of a message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Link(&'a str),
    /// `@handle`, with its `@`.
    Mention(&'a str),
}

/// Splits `text` into plain text and `http(s)://` addresses. Punctuation that usually ends a
/// sentence rather than an address (`.,;:!?'"` and an unmatched closing bracket) is left out of
/// the link.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = find_scheme(rest) {
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || c == '<' || c == '>')
            .unwrap_or(candidate.len());
        let link = trim_trailing(&candidate[..end]);
        if link.len() <= "https://".len() {
            // A bare scheme: keep it as text and look further on.
            let skip = start + candidate.find("//").map_or(1, |i| i + 2);
            out.push(Piece::Text(&rest[..skip]));
            rest = &rest[skip..];
            continue;
        }
        if start > 0 {
            text_and_mentions(&rest[..start], &mut out);
        }
        out.push(Piece::Link(link));
        rest = &rest[start + link.len()..];
    }
    if !rest.is_empty() {
        text_and_mentions(rest, &mut out);
    }
    out
}

/// Splits text outside links into plain text and mentions.
fn text_and_mentions<'a>(text: &'a str, out: &mut Vec<Piece<'a>>) {
    let mut from = 0;
    for (range, _) in crate::protocol::mentions(text) {
        if range.start > from {
            out.push(Piece::Text(&text[from..range.start]));
        }
        out.push(Piece::Mention(&text[range.clone()]));
        from = range.end;
    }
    if from < text.len() {
        out.push(Piece::Text(&text[from..]));
    }
}

fn find_scheme(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let http = lower.find("http://");
    let https = lower.find("https://");
    match (http, https) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn trim_trailing(link: &str) -> &str {
    let mut link = link;
    loop {
        let Some(last) = link.chars().last() else {
            return link;
        };
        let unmatched_close = (last == ')'
            && link.matches('(').count() < link.matches(')').count())
            || (last == ']' && link.matches('[').count() < link.matches(']').count());
        if ".,;:!?'\"".contains(last) || unmatched_close {
            link = &link[..link.len() - last.len_utf8()];
        } else {
            return link;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{pieces, Piece::*};

    #[test]
    fn addresses_become_links_and_the_rest_stays_text() {
        assert_eq!(pieces("no links here"), [Text("no links here")]);
        assert_eq!(
            pieces("see https://example.com/a?b=c#d, then"),
            [
                Text("see "),
                Link("https://example.com/a?b=c#d"),
                Text(", then")
            ]
        );
        assert_eq!(
            pieces("(http://en.wikipedia.org/wiki/Rust_(language))."),
            [
                Text("("),
                Link("http://en.wikipedia.org/wiki/Rust_(language)"),
                Text(").")
            ]
        );
        assert_eq!(
            pieces("HTTPS://A.B and http://c.d"),
            [Link("HTTPS://A.B"), Text(" and "), Link("http://c.d")]
        );
    }

    #[test]
    fn mentions_stand_apart_outside_links() {
        assert_eq!(
            pieces("@ada see https://x.y/@bob, @cy."),
            [
                Mention("@ada"),
                Text(" see "),
                Link("https://x.y/@bob"),
                Text(", "),
                Mention("@cy"),
                Text(".")
            ]
        );
    }

    #[test]
    fn only_web_addresses_are_linked() {
        assert_eq!(pieces("javascript:alert(1)"), [Text("javascript:alert(1)")]);
        assert_eq!(
            pieces("data:text/html,<b>x</b>"),
            [Text("data:text/html,<b>x</b>")]
        );
        assert_eq!(
            pieces(r#"https://x.y"><script>alert(1)</script>"#),
            [Link("https://x.y"), Text(r#""><script>alert(1)</script>"#)]
        );
        assert_eq!(
            pieces("just https:// alone"),
            [Text("just https://"), Text(" alone")]
        );
    }
}
