//! The field names DSPy modules add to the signature they are given. A signature that
//! already has a field of that name breaks the module (DSPy overwrites or rejects it), so
//! both the compile-time check of `#[derive(dspex::Signature)]` and the run-time checks
//! read this one table.

/// For each DSPy module type that extends its signature, the fields it adds.
///
/// `ChainOfThought` prepends `reasoning`. `ReAct` adds `trajectory`, `next_thought`,
/// `next_tool_name` and `next_tool_args`, and extracts its answer with a ChainOfThought
/// (so `reasoning` too). `ProgramOfThought` runs ChainOfThoughts over signatures that add
/// its code fields. `Predict` adds nothing.
pub const RESERVED_FIELDS: &[(&str, &[&str])] = &[
    ("ChainOfThought", &["reasoning"]),
    (
        "ReAct",
        &[
            "trajectory",
            "next_thought",
            "next_tool_name",
            "next_tool_args",
            "reasoning",
        ],
    ),
    (
        "ProgramOfThought",
        &[
            "reasoning",
            "generated_code",
            "previous_code",
            "error",
            "final_generated_code",
            "code_output",
        ],
    ),
];

/// The field names `module_type` adds to its signature (none for an unknown type).
///
/// ```
/// assert_eq!(dspex_core::reserved_fields("ChainOfThought"), ["reasoning"]);
/// assert!(dspex_core::reserved_fields("Predict").is_empty());
/// ```
pub fn reserved_fields(module_type: &str) -> &'static [&'static str] {
    RESERVED_FIELDS
        .iter()
        .find(|(kind, _)| *kind == module_type)
        .map_or(&[], |(_, fields)| fields)
}

/// The first of `fields` that `module_type` reserves, if any.
pub fn reserved_conflict<'a>(
    module_type: &str,
    fields: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let reserved = reserved_fields(module_type);
    fields.into_iter().find(|field| reserved.contains(field))
}

/// The message for a signature used with a module type that reserves one of its fields.
///
/// ```
/// assert_eq!(
///     dspex_core::reserved_field_message("Qa", "reasoning", "ChainOfThought"),
///     "signature `Qa` cannot be used with ChainOfThought: its field `reasoning` is a \
///      field ChainOfThought adds itself (rename it, e.g. with #[serde(rename = \"...\")])"
/// );
/// ```
pub fn reserved_field_message(signature: &str, field: &str, module_type: &str) -> String {
    format!(
        "signature `{signature}` cannot be used with {module_type}: its field `{field}` is a \
         field {module_type} adds itself (rename it, e.g. with #[serde(rename = \"...\")])"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_reserved_field() {
        let fields = ["question", "trajectory", "reasoning"];
        assert_eq!(reserved_conflict("ReAct", fields), Some("trajectory"));
        assert_eq!(
            reserved_conflict("ChainOfThought", fields),
            Some("reasoning")
        );
        assert_eq!(reserved_conflict("Predict", fields), None);
        assert_eq!(reserved_conflict("ChainOfThought", ["answer"]), None);
    }
}
