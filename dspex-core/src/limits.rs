//! The sizes a definition or a write may have, all in one place. They keep every error
//! short and every write cheap: with a pattern no larger than [`PATTERN_SIZE_LIMIT`]
//! compiled and a string no longer than [`MAX_STRING_BYTES`], the slowest check a write
//! can ask for takes milliseconds (the `variables` benchmark prints the worst case), where
//! an unbounded pattern and value took seconds.
//!
//! They are fixed: the compile-time checks of the macros apply the same numbers. Text
//! larger than a variable may hold (a document) belongs in a module's inputs, which only
//! the message size limit of the bridge bounds.

use std::fmt;

use crate::{Metadata, VarOptions};

/// The longest variable name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// The longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 16 * 1024;

/// The most metadata entries a variable may have.
pub const MAX_METADATA_ENTRIES: usize = 64;

/// The longest metadata key, in bytes.
pub const MAX_METADATA_KEY_BYTES: usize = 128;

/// The longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_BYTES: usize = 4096;

/// The longest value of a string, choice or module variable, in bytes.
pub const MAX_STRING_BYTES: usize = 64 * 1024;

/// The most choices a variable may have.
pub const MAX_CHOICES: usize = 1024;

/// The longest choice, in bytes.
pub const MAX_CHOICE_BYTES: usize = 1024;

/// The longest pattern, in bytes of source.
pub const MAX_PATTERN_BYTES: usize = 1024;

/// The most memory a compiled pattern may take, in bytes (`regex::RegexBuilder::size_limit`).
/// A short pattern can compile to a large program (`(?:[\s\S]{0,1000}z){5}`), and the
/// time a match takes grows with the program (once the lazy DFA gives up on it, as the
/// product of the program and the value): this bounds it. Bounded repetitions of Unicode
/// classes compile large: `\w{1,8}` fits, `\w{1,16}` does not (`[A-Za-z0-9_]{1,128}` does).
pub const PATTERN_SIZE_LIMIT: usize = 512 * 1024;

/// The most memory the lazy DFA of a pattern may cache, in bytes
/// (`regex::RegexBuilder::dfa_size_limit`).
pub const PATTERN_DFA_SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// A part of a definition or of a write that is larger than its limit.
///
/// ```
/// use dspex_core::limits::{LimitExceeded, check_description};
/// let err = check_description(&"d".repeat(20_000)).unwrap_err();
/// assert_eq!(err.to_string(), "the description is 20000 bytes, over the limit of 16384 bytes");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// What is too large: a constraint key (`"pattern"`, `"choices"`) or another part of
    /// the definition (`"description"`, `"metadata"`).
    pub subject: &'static str,
    /// How it is described in the message ("the description", "a choice", ...).
    pub what: &'static str,
    /// Its size.
    pub size: usize,
    /// The limit.
    pub limit: usize,
    /// What `size` and `limit` count ("bytes", "entries", ...).
    pub unit: &'static str,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LimitExceeded {
            what,
            size,
            limit,
            unit,
            ..
        } = self;
        let verb = if *unit == "entries" { "has" } else { "is" };
        write!(
            f,
            "{what} {verb} {size} {unit}, over the limit of {limit} {unit}"
        )
    }
}

/// Refuses `size` over `limit`.
fn within(
    subject: &'static str,
    what: &'static str,
    size: usize,
    limit: usize,
    unit: &'static str,
) -> Result<(), LimitExceeded> {
    if size <= limit {
        Ok(())
    } else {
        Err(LimitExceeded {
            subject,
            what,
            size,
            limit,
            unit,
        })
    }
}

/// Checks a description's size.
pub fn check_description(description: &str) -> Result<(), LimitExceeded> {
    within(
        "description",
        "the description",
        description.len(),
        MAX_DESCRIPTION_BYTES,
        "bytes",
    )
}

/// Checks metadata: how many entries, and each key's and value's size.
///
/// ```
/// use dspex_core::{Metadata, limits::check_metadata};
/// let mut md = Metadata::new();
/// md.insert("owner".into(), "v".repeat(5000));
/// assert_eq!(
///     check_metadata(&md).unwrap_err().to_string(),
///     "a metadata value is 5000 bytes, over the limit of 4096 bytes"
/// );
/// ```
pub fn check_metadata(metadata: &Metadata) -> Result<(), LimitExceeded> {
    within(
        "metadata",
        "metadata",
        metadata.len(),
        MAX_METADATA_ENTRIES,
        "entries",
    )?;
    for (key, value) in metadata {
        within(
            "metadata",
            "a metadata key",
            key.len(),
            MAX_METADATA_KEY_BYTES,
            "bytes",
        )?;
        within(
            "metadata",
            "a metadata value",
            value.len(),
            MAX_METADATA_VALUE_BYTES,
            "bytes",
        )?;
    }
    Ok(())
}

/// Checks the parts of a definition other than its constraints (which
/// [`crate::Schema::new`] checks): the description and the metadata.
pub fn check_options(opts: &VarOptions) -> Result<(), LimitExceeded> {
    if let Some(description) = &opts.description {
        check_description(description)?;
    }
    check_metadata(&opts.metadata)
}

/// Checks a choice list: how many, and each one's size.
pub fn check_choices(choices: &[String]) -> Result<(), LimitExceeded> {
    within(
        "choices",
        "`choices`",
        choices.len(),
        MAX_CHOICES,
        "entries",
    )?;
    for choice in choices {
        within(
            "choices",
            "a choice",
            choice.len(),
            MAX_CHOICE_BYTES,
            "bytes",
        )?;
    }
    Ok(())
}

/// Checks a pattern's source size (its compiled size is checked when it compiles).
pub fn check_pattern(pattern: &str) -> Result<(), LimitExceeded> {
    within(
        "pattern",
        "the pattern",
        pattern.len(),
        MAX_PATTERN_BYTES,
        "bytes",
    )
}
