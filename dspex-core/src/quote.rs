//! How an error shows something it was given — a value, a name, a choice list, a pattern,
//! the text of an exception: never the whole of it. Whatever is longer than
//! [`QUOTE_PREFIX_CHARS`] is shown as its first characters (cut between two characters),
//! an ellipsis, and its length in bytes: `"yyyy…" (1000000 bytes)`. The whole text goes to
//! `tracing` at debug level (target `dspex::quoted`), where it can still be read.
//!
//! The Python package follows the same rule; `tests/vectors/quoting.json` holds cases both
//! sides run.

use std::fmt::Write as _;

/// How many characters (Unicode scalar values) of a text an error shows.
pub const QUOTE_PREFIX_CHARS: usize = 300;

/// How many items of a list (choices) an error shows.
pub const QUOTE_LIST_ITEMS: usize = 10;

/// The longest status message the bridge sends, in bytes (a gRPC status travels in an
/// HTTP/2 header, which peers commonly cap at 8–16 KiB).
pub const MAX_STATUS_MESSAGE_BYTES: usize = 4096;

/// A text in double quotes, escaped, bounded: `"hot"`, or `"yyyy…" (1000000 bytes)` when it
/// is longer than [`QUOTE_PREFIX_CHARS`].
///
/// Escapes: `\\`, `\"`, `\n`, `\r`, `\t`, and any other control character (below U+0020,
/// and U+007F) as `\u{hex}`; everything else as it is.
///
/// ```
/// use dspex_core::quote::quoted;
/// assert_eq!(quoted("gpt-4"), "\"gpt-4\"");
/// assert_eq!(quoted("a\"b\n"), "\"a\\\"b\\n\"");
/// let long = "y".repeat(1_000_000);
/// assert_eq!(quoted(&long), format!("\"{}…\" (1000000 bytes)", "y".repeat(300)));
/// ```
pub fn quoted(text: &str) -> String {
    let (shown, cut) = prefix(text);
    let mut out = String::with_capacity(shown.len() + 24);
    out.push('"');
    for c in shown.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' || c == '\u{7f}' => {
                // Writing into a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    if cut {
        let _ = write!(out, "…\" ({} bytes)", text.len());
    } else {
        out.push('"');
    }
    out
}

/// A free text (a name, an exception's message) as it is, bounded: the text itself, or its
/// first [`QUOTE_PREFIX_CHARS`] characters followed by `… (N bytes)`. Nothing is escaped.
///
/// ```
/// use dspex_core::quote::excerpt;
/// assert_eq!(excerpt("temperature"), "temperature");
/// let long = "z".repeat(100_000);
/// assert_eq!(excerpt(&long), format!("{}… (100000 bytes)", "z".repeat(300)));
/// ```
pub fn excerpt(text: &str) -> String {
    match prefix(text) {
        (shown, true) => format!("{shown}… ({} bytes)", text.len()),
        (shown, false) => shown.to_owned(),
    }
}

/// A list of texts, each [`quoted`], bounded: items are shown in order while the items
/// shown (quoted, joined by `, `) stay within [`QUOTE_PREFIX_CHARS`] characters and number
/// at most [`QUOTE_LIST_ITEMS`]; the first is always shown. `["a", "b"]`, or
/// `["a", "b", … 998 more]`.
///
/// ```
/// use dspex_core::quote::quoted_list;
/// assert_eq!(quoted_list(&["gpt-4", "claude-3"]), r#"["gpt-4", "claude-3"]"#);
/// let many: Vec<String> = (0..12).map(|i| i.to_string()).collect();
/// assert_eq!(
///     quoted_list(&many),
///     r#"["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", … 2 more]"#
/// );
/// ```
pub fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    let mut shown = 0;
    let mut chars = 0;
    for item in items.iter().take(QUOTE_LIST_ITEMS) {
        let q = quoted(item.as_ref());
        let separator = if shown > 0 { 2 } else { 0 };
        let len = q.chars().count() + separator;
        if shown > 0 && chars + len > QUOTE_PREFIX_CHARS {
            break;
        }
        if shown > 0 {
            out.push_str(", ");
        }
        out.push_str(&q);
        chars += len;
        shown += 1;
    }
    if items.len() > shown {
        let _ = write!(out, ", … {} more", items.len() - shown);
    }
    out.push(']');
    out
}

/// A message cut to at most `max_bytes` bytes (between two characters), ending in
/// `… (N bytes)` when it was cut: the last bound on a status message, whatever built it.
///
/// ```
/// use dspex_core::quote::fit;
/// assert_eq!(fit("short", 4096), "short");
/// let cut = fit(&"é".repeat(10_000), 4096);
/// assert!(cut.len() <= 4096 && cut.ends_with("… (20000 bytes)"));
/// ```
pub fn fit(message: &str, max_bytes: usize) -> String {
    if message.len() <= max_bytes {
        return message.to_owned();
    }
    let suffix = format!("… ({} bytes)", message.len());
    let mut end = max_bytes.saturating_sub(suffix.len());
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    tracing::debug!(target: "dspex::quoted", bytes = message.len(), full = message, "message cut");
    format!("{}{suffix}", &message[..end])
}

/// The part of `text` an error shows, and whether it was cut. A cut text is logged whole.
fn prefix(text: &str) -> (&str, bool) {
    match text.char_indices().nth(QUOTE_PREFIX_CHARS) {
        Some((end, _)) => {
            tracing::debug!(target: "dspex::quoted", bytes = text.len(), full = text, "text cut");
            (&text[..end], true)
        }
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases the Python package runs too: inputs built from the file's `repeat` form so
    /// that the file stays small.
    #[test]
    fn shared_vectors() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/quoting.json");
        let text = std::fs::read_to_string(path).expect("tests/vectors/quoting.json");
        let file: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let constants = &file["constants"];
        assert_eq!(constants["prefix_chars"], QUOTE_PREFIX_CHARS);
        assert_eq!(constants["list_items"], QUOTE_LIST_ITEMS);
        assert_eq!(
            constants["max_status_message_bytes"],
            MAX_STATUS_MESSAGE_BYTES
        );
        let cases = file["cases"].as_array().expect("cases");
        assert!(cases.len() >= 10);
        for case in cases {
            let expected = build(&case["expected"]);
            let got = match case["rule"].as_str().expect("rule") {
                "quoted" => quoted(&build(&case["input"])),
                "excerpt" => excerpt(&build(&case["input"])),
                "quoted_list" => {
                    let items: Vec<String> = case["input"]
                        .as_array()
                        .expect("a list")
                        .iter()
                        .map(build)
                        .collect();
                    quoted_list(&items)
                }
                "fit" => fit(
                    &build(&case["input"]),
                    case["max_bytes"].as_u64().expect("max_bytes") as usize,
                ),
                other => panic!("unknown rule {other}"),
            };
            assert_eq!(got, expected, "case {}", case["name"]);
        }
    }

    /// A text given as a string, or as a list of strings and `{"repeat": s, "times": n}`
    /// parts joined together.
    fn build(spec: &serde_json::Value) -> String {
        match spec {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(parts) => parts.iter().map(build).collect(),
            serde_json::Value::Object(o) => {
                let s = o["repeat"].as_str().expect("repeat");
                s.repeat(o["times"].as_u64().expect("times") as usize)
            }
            other => panic!("not a text: {other}"),
        }
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let text = "é".repeat(QUOTE_PREFIX_CHARS + 1);
        let q = quoted(&text);
        assert!(q.starts_with(&format!("\"{}…\"", "é".repeat(QUOTE_PREFIX_CHARS))));
        for max in 0..40 {
            let cut = fit(&text, max.max(20));
            assert!(cut.len() <= max.max(20), "{cut:?}");
        }
    }
}
