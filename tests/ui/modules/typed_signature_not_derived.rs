// `signature = S` with an `S` that does not implement `dspex::Signature`: the compiler
// reports the missing trait, at `S`.
struct NotASignature;

#[dspex::program]
struct NotImplemented {
    #[module(Predict, signature = NotASignature)]
    not_derived: dspex::TypedModule<NotASignature>,
}

fn main() {}
