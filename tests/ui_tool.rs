//! Compile-fail tests of `#[dspex::tool]`: every mistake it catches, with the message and
//! the token it points at (`tests/ui/tool/*.stderr`). Regenerate with `TRYBUILD=overwrite`
//! and review the diff.

#[test]
fn ui_tool() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/tool/*.rs");
}
