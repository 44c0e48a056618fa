//! Compile-fail tests of the macros: every mistake the macros catch, with the message and
//! the token it points at (`tests/ui/*.stderr`). Regenerate with `TRYBUILD=overwrite`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

/// `#[module]` fields: the compile errors, and a correct program compiling and running.
#[test]
fn ui_modules() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/modules/*.rs");
    t.pass("tests/ui/modules-pass/*.rs");
}
