//! Compile-fail tests of `#[derive(dspex::Signature)]`: every mistake it catches, with the
//! message and the token it points at (`tests/ui/signature/*.stderr`). Regenerate with
//! `TRYBUILD=overwrite` and review the diff. The pass cases make trybuild build (not only
//! check) every case, which the reserved-name check needs: it is a `const` evaluated when
//! the typed constructor is instantiated.

#[test]
fn ui_signature() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/signature/*.rs");
    t.pass("tests/ui/signature-pass/*.rs");
}
