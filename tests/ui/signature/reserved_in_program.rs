// A program's typed module whose signature has a field its module type adds itself: the
// error points at `signature = ...`.
#[derive(dspex::Signature)]
struct Explain {
    #[input]
    question: String,
    #[output]
    reasoning: String,
}

#[derive(dspex::Signature)]
struct Step {
    #[input]
    question: String,
    #[output]
    trajectory: String,
}

#[dspex::program]
struct Explainer {
    #[module(Predict, signature = Explain)]
    fine: dspex::TypedModule<Explain>,
    #[module(ChainOfThought, signature = Explain)]
    explain: dspex::TypedModule<Explain>,
    #[module(ReAct, signature = Step)]
    step: dspex::TypedModule<Step>,
}

fn main() {}
