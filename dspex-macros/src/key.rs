//! Every key the macros read — in `#[var(...)]`, `defvariable!`, `#[module(...)]` and
//! `#[dspex(...)]` — with its name, how it is written and where it is accepted. Parsing
//! recognises keys through [`Key::from_name`], checking maps `dspex-core`'s errors back to
//! the key they name, and the "expected one of ..." messages list [`Key::listed`], so a new
//! key is added here and nowhere else.
//!
//! Which variable types a constraint key applies to is not decided here: that rule is
//! `Schema::new`'s (dspex-core), whose errors name the key by [`Key::name`].

use dspex_core::Constraints;

/// A key of one of the macros' argument lists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Key {
    Default,
    Min,
    Max,
    MinLength,
    MaxLength,
    Pattern,
    Choices,
    Description,
    Choice,
    Module,
    Signature,
    Bind,
    Crate,
}

/// Where a key is written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Site {
    /// `#[var(...)]` on a field.
    Var,
    /// The keys after `name: type = default` in `defvariable!`.
    DefVariable,
    /// `#[module(ModuleType, ...)]` on a field.
    Module,
    /// `#[dspex(...)]` on the struct, and the arguments of `#[dspex::program(...)]`.
    Dspex,
}

/// How a key takes its value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Form {
    /// `key = value`.
    Value,
    /// A bare `key`.
    Flag,
    /// `key(...)`.
    List,
}

impl Key {
    /// Every key, in the order the error messages list them.
    pub const ALL: [Key; 13] = [
        Key::Default,
        Key::Min,
        Key::Max,
        Key::MinLength,
        Key::MaxLength,
        Key::Pattern,
        Key::Choices,
        Key::Description,
        Key::Choice,
        Key::Module,
        Key::Signature,
        Key::Bind,
        Key::Crate,
    ];

    /// The key as written.
    pub fn name(self) -> &'static str {
        match self {
            Key::Default => "default",
            Key::Min => "min",
            Key::Max => "max",
            Key::MinLength => "min_length",
            Key::MaxLength => "max_length",
            Key::Pattern => "pattern",
            Key::Choices => "choices",
            Key::Description => "description",
            Key::Choice => "choice",
            Key::Module => "module",
            Key::Signature => "signature",
            Key::Bind => "bind",
            Key::Crate => "crate",
        }
    }

    /// The key named `name`, if there is one (in any site).
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|key| key.name() == name)
    }

    /// How the key takes its value.
    pub fn form(self) -> Form {
        match self {
            Key::Choice | Key::Module => Form::Flag,
            Key::Bind => Form::List,
            _ => Form::Value,
        }
    }

    /// Whether the key is accepted in `site`.
    pub fn accepted_in(self, site: Site) -> bool {
        match self {
            // `defvariable!` takes its default positionally, and its type says what the
            // flags would.
            Key::Default | Key::Choice | Key::Module => site == Site::Var,
            Key::Min
            | Key::Max
            | Key::MinLength
            | Key::MaxLength
            | Key::Pattern
            | Key::Choices
            | Key::Description => matches!(site, Site::Var | Site::DefVariable),
            Key::Signature | Key::Bind => site == Site::Module,
            Key::Crate => site == Site::Dspex,
        }
    }

    /// Whether the key may be given more than once (each `bind(...)` adds bindings).
    pub fn repeatable(self) -> bool {
        self == Key::Bind
    }

    /// The keys accepted in `site`, as a message lists them: `default, min, max, ...`.
    pub fn listed(site: Site) -> String {
        Key::ALL
            .into_iter()
            .filter(|key| key.accepted_in(site))
            .map(Key::name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Removes this key's constraint from `constraints` (nothing for a key that is not a
    /// constraint).
    pub fn clear(self, constraints: &mut Constraints) {
        match self {
            Key::Min => constraints.min = None,
            Key::Max => constraints.max = None,
            Key::MinLength => constraints.min_length = None,
            Key::MaxLength => constraints.max_length = None,
            Key::Pattern => constraints.pattern = None,
            Key::Choices => constraints.choices = None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for key in Key::ALL {
            assert_eq!(Key::from_name(key.name()), Some(key));
        }
        assert_eq!(Key::from_name("maximum"), None);
    }

    #[test]
    fn every_constraint_key_of_dspex_core_is_a_key() {
        let all = Constraints::new()
            .min(0i64)
            .max(1i64)
            .min_length(0)
            .max_length(1)
            .pattern("x")
            .choices(["a"]);
        for name in all.keys() {
            let key = Key::from_name(name);
            assert!(key.is_some(), "`{name}` has no Key");
            let mut cleared = all.clone();
            key.into_iter().for_each(|key| key.clear(&mut cleared));
            assert!(
                cleared.keys().all(|left| left != name),
                "clearing `{name}` left it set"
            );
        }
    }

    #[test]
    fn lists_per_site() {
        assert_eq!(
            Key::listed(Site::Var),
            "default, min, max, min_length, max_length, pattern, choices, description, choice, module"
        );
        assert_eq!(
            Key::listed(Site::DefVariable),
            "min, max, min_length, max_length, pattern, choices, description"
        );
        assert_eq!(Key::listed(Site::Module), "signature, bind");
        assert_eq!(Key::listed(Site::Dspex), "crate");
    }
}
