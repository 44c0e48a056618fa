// `signature = S` names a type deriving `dspex::Signature`, on a `dspex::TypedModule<S>`
// field; a string signature goes on a `dspex::Module` field.
#[derive(dspex::Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
}

#[derive(dspex::Signature)]
struct Other {
    #[input]
    text: String,
    #[output]
    summary: String,
}

#[dspex::program]
struct Programs {
    #[module(Predict, signature = Qa)]
    untyped_field: dspex::Module,
    #[module(Predict, signature = "question -> answer")]
    typed_field: dspex::TypedModule<Qa>,
    #[module(Predict, signature = Qa)]
    other_signature: dspex::TypedModule<Other>,
    #[module(Predict, signature = 42)]
    not_a_signature_at_all: dspex::TypedModule<Qa>,
    // Fine.
    #[module(ChainOfThought, signature = Qa)]
    fine: dspex::TypedModule<Qa>,
}

fn main() {}
