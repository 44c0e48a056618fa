// A signature with `reasoning`, which ChainOfThought adds itself: the typed constructor
// does not compile with it (Predict, which adds nothing, does).
use dspex::{ChainOfThought, Context, Predict};

#[derive(dspex::Signature)]
struct Explain {
    #[input]
    question: String,
    #[output]
    reasoning: String,
}

fn main() {
    let ctx = Context::new();
    drop(Predict::typed::<Explain>(&ctx));
    drop(ChainOfThought::typed::<Explain>(&ctx));
}
