//! What a file is, told by its first bytes, never by its name or what the uploader claims. A type not
//! recognised here is `application/octet-stream`, which every browser downloads rather than shows.

use crate::model::OCTET_STREAM;
use crate::validate::ImageFormat;

/// How many leading bytes `recognise` needs.
pub const SNIFF_BYTES: usize = 8192;

/// Formats told by a signature at the start of the file.
const SIGNATURES: &[(&[u8], &str)] = &[
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"fLaC", "audio/flac"),
];

/// The content type of a file that starts with `head` (its first `SNIFF_BYTES`, or all of a shorter file).
pub fn recognise(head: &[u8]) -> &'static str {
    if let Some(image) = ImageFormat::sniff(head) {
        return image.content_type();
    }
    if let Some((_, content_type)) = SIGNATURES.iter().find(|(magic, _)| head.starts_with(magic)) {
        return content_type;
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return "video/mp4";
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        return "audio/wav";
    }
    if is_text(head) {
        // HTML and SVG are text too, and are served as text: nothing a browser would run.
        return "text/plain; charset=utf-8";
    }
    OCTET_STREAM
}

/// UTF-8 without NULs or other controls but whitespace; a character cut at the end of `head` is fine.
fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        // Cut in the middle of a character by the sniff window: the part before is what counts.
        Err(e) if e.error_len().is_none() && head.len() >= SNIFF_BYTES => {
            match std::str::from_utf8(&head[..e.valid_up_to()]) {
                Ok(text) => text,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\x0c'))
}

/// Whether browsers may show a file of this type inline: the pictures this server decodes, and only once
/// it decoded them.
pub fn is_picture(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_content() {
        assert_eq!(recognise(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(recognise(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(recognise(b"PK\x03\x04rest"), "application/zip");
        assert_eq!(recognise(b"\0\0\0\x18ftypmp42"), "video/mp4");
        assert_eq!(recognise(b"hello, world\n"), "text/plain; charset=utf-8");
        assert_eq!(
            recognise(b"<html><script>alert(1)</script>"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            recognise(b"<svg onload=alert(1)/>"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(recognise(b"\x00\x01\x02binary"), OCTET_STREAM);
        assert_eq!(recognise(b""), OCTET_STREAM);
        assert_eq!(recognise(&[0xff, 0xfe, 0x41]), OCTET_STREAM);
    }

    #[test]
    fn a_character_cut_by_the_window_is_still_text() {
        let mut head = format!("a{}", "é".repeat(SNIFF_BYTES / 2)).into_bytes();
        head.truncate(SNIFF_BYTES);
        assert_eq!(head.last(), Some(&0xc3));
        assert_eq!(recognise(&head), "text/plain; charset=utf-8");
    }
}
