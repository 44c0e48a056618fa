#[derive(dspex::Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    reasoning: String,
}

/// What `ChainOfThought::typed::<S>` does before creating the module.
fn chain_of_thought<S: dspex::Signature>() {
    const { dspex::__private::assert_no_reserved::<S, dspex::ChainOfThought>() }
}

fn main() {
    chain_of_thought::<Qa>();
}
