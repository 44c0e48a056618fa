//! DSPy signatures in their string form: `"question -> answer"`,
//! `"context: list[str], question: str -> answer"`. Parsed once here, so the macros (at
//! compile time) and the runtime (before a module is created) accept exactly the same
//! strings.

use std::fmt;

/// One field of a signature: a name and, optionally, a type annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureField {
    /// The field's name (a Python identifier: letters, digits, `_`, not starting with a digit).
    pub name: String,
    /// The type annotation after `:`, as written (`str`, `list[str]`, ...), if any.
    pub ty: Option<String>,
}

/// A parsed DSPy signature: `inputs -> outputs`.
///
/// ```
/// use dspex_core::Signature;
/// let sig = Signature::parse("context: list[str], question -> answer: str")?;
/// assert_eq!(sig.inputs.len(), 2);
/// assert_eq!(sig.inputs[0].ty.as_deref(), Some("list[str]"));
/// assert_eq!(sig.outputs[0].name, "answer");
/// assert!(Signature::parse("question answer").is_err());
/// # Ok::<(), dspex_core::SignatureError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The input fields, in order.
    pub inputs: Vec<SignatureField>,
    /// The output fields, in order.
    pub outputs: Vec<SignatureField>,
}

/// Why a string is not a DSPy signature. The message says what the grammar is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureError {
    /// The signature as given.
    pub signature: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a DSPy signature: {} (expected `in1, in2 -> out1, out2`, each name \
             optionally followed by `: type`)",
            self.signature, self.reason
        )
    }
}

impl std::error::Error for SignatureError {}

impl Signature {
    /// Parses `in1, in2 -> out1, out2`: one `->`, at least one name on each side, names
    /// separated by commas, each name a Python identifier optionally followed by `: type`
    /// (brackets in types may hold commas: `dict[str, int]`). Names are unique.
    pub fn parse(signature: &str) -> Result<Signature, SignatureError> {
        let err = |reason: String| SignatureError {
            signature: signature.to_owned(),
            reason,
        };
        let mut sides = signature.split("->");
        let (Some(inputs), Some(outputs), None) = (sides.next(), sides.next(), sides.next()) else {
            let arrows = signature.matches("->").count();
            return Err(err(if arrows == 0 {
                "it has no `->` between the inputs and the outputs".to_owned()
            } else {
                format!("it has {arrows} `->`, not one")
            }));
        };
        let inputs = parse_side(inputs, "input").map_err(&err)?;
        let outputs = parse_side(outputs, "output").map_err(&err)?;
        let mut seen: Vec<&str> = Vec::new();
        for field in inputs.iter().chain(&outputs) {
            if seen.contains(&field.name.as_str()) {
                return Err(err(format!("the field `{}` appears twice", field.name)));
            }
            seen.push(&field.name);
        }
        Ok(Signature { inputs, outputs })
    }
}

fn parse_side(side: &str, what: &str) -> Result<Vec<SignatureField>, String> {
    if side.trim().is_empty() {
        return Err(format!("it has no {what} field"));
    }
    split_top_level(side)?
        .into_iter()
        .map(|item| parse_field(item, what))
        .collect()
}

/// Splits on commas outside brackets.
fn split_top_level(s: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced `{c}`"));
                }
            }
            ',' if depth == 0 => {
                items.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced brackets".to_owned());
    }
    items.push(&s[start..]);
    Ok(items)
}

fn parse_field(item: &str, what: &str) -> Result<SignatureField, String> {
    let (name, ty) = match item.split_once(':') {
        Some((name, ty)) => (name.trim(), Some(ty.trim())),
        None => (item.trim(), None),
    };
    if name.is_empty() {
        return Err(format!("an {what} field has no name"));
    }
    if !is_identifier(name) {
        return Err(format!("`{name}` is not a field name"));
    }
    let ty = match ty {
        None => None,
        Some("") => return Err(format!("the field `{name}` has `:` but no type")),
        Some(ty) => {
            let valid = ty.chars().all(|c| {
                c.is_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | ',' | ' ' | '|')
            });
            if !valid {
                return Err(format!("`{ty}` is not a type (field `{name}`)"));
            }
            Some(ty.to_owned())
        }
    };
    Ok(SignatureField {
        name: name.to_owned(),
        ty,
    })
}

/// Whether `s` is a DSPy field name: letters, digits and `_`, not starting with a digit.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dspy_grammar() {
        for ok in [
            "question -> answer",
            "question->answer",
            "context, question -> reasoning, answer",
            "question: str -> answer: int",
            "context: list[str], q -> answer: dict[str, int]",
            "  a ,b->c  ",
        ] {
            assert!(Signature::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "question",
            "question answer",
            "-> answer",
            "question ->",
            "a -> b -> c",
            "a, -> b",
            "a b -> c",
            "1a -> b",
            "a: -> b",
            "a -> a",
            "a: list[str -> b",
            "a: str; -> b",
        ] {
            assert!(Signature::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn message_names_the_problem() {
        let err = Signature::parse("question answer").unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"question answer\" is not a DSPy signature: it has no `->` between the inputs \
             and the outputs (expected `in1, in2 -> out1, out2`, each name optionally followed \
             by `: type`)"
        );
    }
}
