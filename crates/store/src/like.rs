//! LIKE patterns, the same on both backends.

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub(crate) fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped
}

/// A `LIKE ... ESCAPE '\\'` pattern that matches a text holding each word of `text`, in order, anywhere:
/// how a search finds a file by name (`quarterly report` finds `Quarterly-Report.pdf`).
pub(crate) fn words_pattern(text: &str) -> String {
    let words: Vec<String> = text.split_whitespace().map(like_escape).collect();
    format!("%{}%", words.join("%"))
}
