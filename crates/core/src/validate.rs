//! Input rules. Each check answers `Error::Invalid` with a stable code and a sentence naming the rule.

use crate::Error;
use crate::model::Millis;

pub const MAX_NAME_CHARS: usize = 100;
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Argon2 takes any length; the cap only stops someone making us hash megabytes.
pub const MAX_PASSWORD_CHARS: usize = 1024;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_TEXT_CHARS: usize = 10_000;
pub const MAX_NONCE_CHARS: usize = 64;
pub const MAX_EMOJI_CHARS: usize = 32;
pub const MAX_TOPIC_CHARS: usize = 500;
pub const MAX_AVATAR_BYTES: usize = 5 * 1024 * 1024;
/// The longest file name kept, in characters (what most file systems take).
pub const MAX_FILE_NAME_CHARS: usize = 255;

pub const MIN_HANDLE_CHARS: usize = 2;
pub const MAX_HANDLE_CHARS: usize = 32;

// The rules below as JSON Schema patterns (ECMA-262 regular expressions), for the OpenAPI document. A pattern
// cannot say "something visible", so the documented patterns are the rules less that (see `has_visible`);
// `patterns_agree_with_the_rules` checks each against its rule.

/// `handle`.
pub const HANDLE_PATTERN: &str = "^[a-z0-9_.-]{2,32}$";
/// No control characters (Unicode's Cc): nonces and search text.
pub const NO_CONTROLS_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// `name`: no control or bidirectional formatting characters.
pub const NAME_PATTERN: &str =
    r"^[^\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]*$";
/// `message_text`: no control characters but tab and newline.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$";
/// `topic`: no control characters but newline.
pub const TOPIC_PATTERN: &str = r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*$";
/// `emoji`: no whitespace or control characters.
pub const EMOJI_PATTERN: &str = r"^[^\s\u0000-\u001F\u007F-\u009F]+$";
/// `email`: one `@` after something, a dot inside the domain, no whitespace or control characters.
pub const EMAIL_PATTERN: &str = r"^[^@\s\u0000-\u001F\u007F-\u009F]+@[^@.\s\u0000-\u001F\u007F-\u009F][^@\s\u0000-\u001F\u007F-\u009F]*\.[^@\s\u0000-\u001F\u007F-\u009F]*[^@.\s\u0000-\u001F\u007F-\u009F]$";

/// `[a-z0-9_.-]{2,32}`: usernames, channel and organization handles.
pub fn handle(field: &'static str, value: &str) -> Result<(), Error> {
    let ok_chars = value
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
    if !(MIN_HANDLE_CHARS..=MAX_HANDLE_CHARS).contains(&value.len()) || !ok_chars {
        return Err(Error::invalid(
            "invalid_handle",
            format!("{field} must be 2 to 32 characters of a-z, 0-9, '_', '.' and '-'"),
        ));
    }
    Ok(())
}

pub fn email(value: &str) -> Result<(), Error> {
    let shape_ok = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    });
    if !shape_ok
        || value.chars().count() > MAX_EMAIL_CHARS
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            "invalid_email",
            "email must look like name@example.org",
        ));
    }
    Ok(())
}

/// Whether `login` (an email address or a username) could name an account: none has a control character
/// (PostgreSQL refuses a NUL in a lookup) or is longer than an email address may be. Anything else is looked
/// up; what fails this is an unknown account without a lookup.
pub fn plausible_login(login: &str) -> bool {
    !login.chars().any(char::is_control) && login.chars().count() <= MAX_EMAIL_CHARS
}

/// A search box's text, trimmed: at most `max` characters, no control characters (PostgreSQL refuses NUL
/// in text, and no one types the others).
pub fn search_query(value: &str, max: usize) -> Result<&str, Error> {
    let value = value.trim();
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_query",
            format!("q must be at most {max} characters, without control characters"),
        ));
    }
    Ok(value)
}

/// An RFC 3339 time (`2026-12-04T10:00:00Z`, any offset), as milliseconds since the epoch.
pub fn time(field: &'static str, value: &str) -> Result<Millis, Error> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
        .map(Millis)
        .ok_or_else(|| {
            Error::invalid(
                "invalid_time",
                format!("{field} must be an RFC 3339 time such as 2026-12-04T10:00:00Z"),
            )
        })
}

pub fn password(value: &str) -> Result<(), Error> {
    let n = value.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(Error::invalid(
            "invalid_password",
            format!("password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Display names of people, groups and channels: 1 to 100 characters with something visible, no control
/// characters, and no bidirectional controls (`\u{202e}ecilA` displays as "Alice").
pub fn name(value: &str) -> Result<(), Error> {
    let n = value.chars().count();
    if !has_visible(value)
        || n > MAX_NAME_CHARS
        || value.chars().any(|c| c.is_control() || is_bidi_control(c))
    {
        return Err(Error::invalid(
            "invalid_name",
            format!(
                "name must be 1 to {MAX_NAME_CHARS} characters with something visible, without control or \
                 bidirectional formatting characters"
            ),
        ));
    }
    Ok(())
}

/// A file name made safe to keep and to show: path separators, control and bidirectional formatting
/// characters become `_`, so the name is one plain component (`..` too) and cannot reorder what is shown
/// around it. Refused when blank or longer than `MAX_FILE_NAME_CHARS`.
pub fn file_name(value: &str) -> Result<String, Error> {
    let value = value.trim();
    if !has_visible(value) || value.chars().count() > MAX_FILE_NAME_CHARS {
        return Err(Error::invalid(
            "invalid_file_name",
            format!(
                "a file name must be 1 to {MAX_FILE_NAME_CHARS} characters with something visible"
            ),
        ));
    }
    let safe: String = value
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\') || c.is_control() || is_bidi_control(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    Ok(if safe.chars().all(|c| c == '.') {
        "_".repeat(safe.len())
    } else {
        safe
    })
}

/// Whether any character of `value` shows: a text of spaces, zero-width characters or Hangul fillers is
/// blank however long it is.
pub fn has_visible(value: &str) -> bool {
    value.chars().any(|c| !is_invisible(c))
}

/// Characters that render as nothing: whitespace, controls, Unicode's default-ignorable code points (soft
/// hyphen, zero-width spaces and joiners, bidirectional controls, variation selectors, invisible operators,
/// tags, the Hangul fillers) and the blank braille pattern, which fonts draw empty.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// The bidirectional formatting characters: marks, embeddings, overrides and isolates. They reorder what
/// follows them on screen.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

pub fn topic(value: &str) -> Result<(), Error> {
    if value.chars().count() > MAX_TOPIC_CHARS || value.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(Error::invalid(
            "invalid_topic",
            format!(
                "topic must be at most {MAX_TOPIC_CHARS} characters without control characters"
            ),
        ));
    }
    Ok(())
}

/// Message text: 1 to 10,000 characters (Unicode scalar values) with something visible; newline and tab
/// are the only control characters allowed. Bidirectional controls are allowed (right-to-left writers use
/// them), and clients show each message isolated from what surrounds it.
pub fn message_text(value: &str) -> Result<(), Error> {
    let n = value.chars().count();
    if n == 0 || n > MAX_TEXT_CHARS || !has_visible(value) {
        return Err(Error::invalid(
            "invalid_text",
            format!("text must be 1 to {MAX_TEXT_CHARS} characters with something visible"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::invalid(
            "invalid_text",
            "text may not contain control characters other than newline and tab",
        ));
    }
    Ok(())
}

pub fn nonce(value: &str) -> Result<(), Error> {
    let n = value.chars().count();
    if n == 0 || n > MAX_NONCE_CHARS || value.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_nonce",
            format!("nonce must be 1 to {MAX_NONCE_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

/// A reaction: any emoji or short word (`like`), 1 to 32 characters with something visible, no whitespace
/// or control characters.
pub fn emoji(value: &str) -> Result<(), Error> {
    let n = value.chars().count();
    if n == 0
        || n > MAX_EMOJI_CHARS
        || !has_visible(value)
        || value.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::invalid(
            "invalid_emoji",
            format!("emoji must be 1 to {MAX_EMOJI_CHARS} characters without spaces"),
        ));
    }
    Ok(())
}

/// Image formats accepted for avatars, recognised by their first bytes, never by what the client claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
    Gif,
}

impl ImageFormat {
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageFormat::Gif)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Gif => "image/gif",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_one_safe_component() {
        assert_eq!(file_name("report.pdf").expect("fine"), "report.pdf");
        assert_eq!(
            file_name("../../etc/passwd").expect("made safe"),
            ".._.._etc_passwd"
        );
        assert_eq!(file_name("a\\b\u{0}c\nd").expect("made safe"), "a_b_c_d");
        assert_eq!(
            file_name("evil\u{202E}fdp.exe").expect("made safe"),
            "evil_fdp.exe"
        );
        assert_eq!(file_name("..").expect("made safe"), "__");
        assert_eq!(file_name("  spaced.txt ").expect("trimmed"), "spaced.txt");
        assert!(file_name("").is_err());
        assert!(file_name("\u{200B}").is_err());
        assert!(file_name(&"a".repeat(MAX_FILE_NAME_CHARS + 1)).is_err());
        assert!(file_name(&"é".repeat(MAX_FILE_NAME_CHARS)).is_ok());
    }

    #[test]
    fn handles_follow_the_pattern() {
        for ok in ["ab", "a.b-c_d", "0123456789abcdefghijklmnopqrstuv"] {
            assert!(handle("username", ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "",
            "Ab",
            "a b",
            "ä1",
            "0123456789abcdefghijklmnopqrstuvw",
            "a/b",
        ] {
            assert!(handle("username", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_counts_characters_not_bytes_and_refuses_controls() {
        assert!(message_text(&"é".repeat(MAX_TEXT_CHARS)).is_ok());
        assert!(message_text(&"é".repeat(MAX_TEXT_CHARS + 1)).is_err());
        assert!(message_text("line\nnext\tcol").is_ok());
        assert!(message_text("bell\u{7}").is_err());
        assert!(message_text("nul\u{0}").is_err());
        assert!(message_text("   ").is_err());
        assert!(message_text("").is_err());
    }

    #[test]
    fn nothing_visible_is_blank() {
        for blank in [
            "\u{200B}\u{200B}",
            "\u{3164}",
            "\u{115F}\u{1160}",
            " \u{FEFF} ",
            "\u{2800}\u{2800}",
            "\u{E0041}\u{E0042}",
            "\u{00AD}",
        ] {
            assert!(name(blank).is_err(), "{blank:?}");
            assert!(message_text(blank).is_err(), "{blank:?}");
            assert!(emoji(blank).is_err(), "{blank:?}");
        }
        for shown in [
            "Ada",
            "👩\u{200D}💻",
            "\u{05D0}\u{05D1}",
            "a\u{200B}b",
            "❤\u{FE0F}",
        ] {
            assert!(name(shown).is_ok(), "{shown:?}");
            assert!(message_text(shown).is_ok(), "{shown:?}");
        }
    }

    #[test]
    fn names_refuse_bidirectional_controls_and_texts_keep_them() {
        for spoof in ["\u{202E}ecilA", "Ada\u{2066}", "\u{200F}Bob", "x\u{061C}y"] {
            assert!(name(spoof).is_err(), "{spoof:?}");
        }
        assert!(message_text("\u{202B}שלום\u{202C} hello").is_ok());
    }

    /// Each documented pattern accepts what its rule accepts and refuses what it refuses, "nothing visible"
    /// aside (a pattern cannot say it).
    #[test]
    fn patterns_agree_with_the_rules() {
        type Rule = fn(&str) -> bool;
        let cases: [(&str, Rule, &[&str]); 6] = [
            (
                HANDLE_PATTERN,
                |v| handle("h", v).is_ok(),
                &["ab", "a.b-c_9", "A", "a", "a b", "é1", &"a".repeat(33)],
            ),
            (
                NAME_PATTERN,
                |v| name(v).is_ok(),
                &[
                    "Ada",
                    "a\u{200B}b",
                    "\u{202E}x",
                    "a\u{7}",
                    "x\u{2066}",
                    "\u{05D0}",
                ],
            ),
            (
                TEXT_PATTERN,
                |v| message_text(v).is_ok(),
                &["hi", "a\nb\tc", "a\u{0}", "a\rb", "\u{202B}x", "x\u{85}"],
            ),
            (
                TOPIC_PATTERN,
                |v| topic(v).is_ok(),
                &["", "a\nb", "a\tb", "a\u{1F}"],
            ),
            (
                EMOJI_PATTERN,
                |v| emoji(v).is_ok(),
                &["like", "👍", "a b", "a\u{7}", "\u{3000}"],
            ),
            (
                EMAIL_PATTERN,
                |v| email(v).is_ok(),
                &[
                    "a@b.c",
                    "ann@example.org",
                    "ann",
                    "a@b",
                    "a@.b",
                    "a b@c.d",
                    "a@b.c.",
                    "@b.c",
                    "a@@b.c",
                ],
            ),
        ];
        for (pattern, rule, samples) in cases {
            let pattern = regex::Regex::new(pattern).expect("a valid pattern");
            for sample in samples {
                assert_eq!(
                    pattern.is_match(sample),
                    rule(sample),
                    "{pattern} on {sample:?}"
                );
            }
        }
    }

    #[test]
    fn emails_need_a_shape() {
        assert!(email("ann@example.org").is_ok());
        for bad in [
            "ann",
            "@example.org",
            "ann@org",
            "ann@.org",
            "a b@example.org",
            "ann@example.org.",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn images_are_recognised_by_content() {
        assert_eq!(
            ImageFormat::sniff(b"\x89PNG\r\n\x1a\nrest"),
            Some(ImageFormat::Png)
        );
        assert_eq!(ImageFormat::sniff(b"GIF89a..."), Some(ImageFormat::Gif));
        assert_eq!(
            ImageFormat::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageFormat::Webp)
        );
        assert_eq!(
            ImageFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(ImageFormat::sniff(b"<svg"), None);
    }
}
