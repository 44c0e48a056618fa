#[dspex::program]
struct Qa {
    #[module(Predict, signature = "question answer")]
    a: dspex::Module,
    #[module(Predict, signature = "question -> ")]
    b: dspex::Module,
    #[module(Predict, signature = "q -> a -> b")]
    c: dspex::Module,
    #[module(Predict, signature = "q, 1x -> a")]
    d: dspex::Module,
    #[module(Predict, signature = "q: -> a")]
    e: dspex::Module,
    // Fine: types, brackets with commas.
    #[module(ChainOfThought, signature = "context: list[str], question: str -> answer: dict[str, int]")]
    f: dspex::Module,
}

fn main() {}
