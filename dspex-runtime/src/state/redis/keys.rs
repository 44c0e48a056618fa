//! The Redis keys of one namespace. Every key carries the namespace as a hash tag
//! (`dspex:{checkout-service}:…`), so all of a namespace's keys live on one slot.

use dspex_core::{Error, Result};

/// What the namespace's `meta` hash says its data is; a namespace whose `meta` says
/// anything else holds data of another shape and is refused.
pub(crate) const FORMAT: &str = "dspex-state/1";

/// The longest namespace accepted.
const MAX_NAMESPACE_LEN: usize = 128;

/// The key names of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `format` and `created_at_ms`: what this namespace holds.
    pub meta: String,
    /// The variable names, in definition order (a list).
    pub names: String,
    /// Variable id → name (a hash).
    pub ids: String,
    /// Every write and definition, in order (a stream).
    pub events: String,
    /// Prefix of the per-variable hashes (`<prefix><name>`).
    pub var_prefix: String,
    /// Prefix of the replies kept for writes that may be retried (`<prefix><token>`).
    pub done_prefix: String,
}

impl Keys {
    /// The keys of `namespace` (checked with [`check_namespace`] first).
    pub fn new(namespace: &str) -> Keys {
        let base = format!("dspex:{{{namespace}}}:");
        Keys {
            meta: format!("{base}meta"),
            names: format!("{base}names"),
            ids: format!("{base}ids"),
            events: format!("{base}events"),
            var_prefix: format!("{base}v:"),
            done_prefix: format!("{base}done:"),
        }
    }

    /// The hash of one variable.
    pub fn var(&self, name: &str) -> String {
        format!("{}{name}", self.var_prefix)
    }
}

/// A namespace is 1 to 128 letters, digits and `_ - . :` (it is part of every key).
pub(crate) fn check_namespace(namespace: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
    if namespace.is_empty()
        || namespace.len() > MAX_NAMESPACE_LEN
        || !namespace.chars().all(ok_char)
    {
        return Err(Error::InvalidArgument {
            message: format!(
                "namespace {namespace:?} is not valid: use 1 to {MAX_NAMESPACE_LEN} letters, \
                 digits and `_ - . :` (e.g. \"checkout-service\")"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert!(check_namespace("checkout-service").is_ok());
        assert!(check_namespace("a.b:c_d").is_ok());
        for bad in ["", "with space", "brace{", "é", &"x".repeat(129)] {
            let err = check_namespace(bad).unwrap_err();
            assert!(err.to_string().contains("is not valid"), "{err}");
        }
        let keys = Keys::new("svc");
        assert_eq!(keys.var("temperature"), "dspex:{svc}:v:temperature");
        assert_eq!(keys.events, "dspex:{svc}:events");
    }
}
