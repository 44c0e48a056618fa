#[dspex::program]
struct Qa {
    #[var(default = 0.7, min = 0.0, max = 2.0)]
    temperature: f64,
    #[var(default = 256)]
    max_tokens: i64,
    #[module(ChainOfThought, signature = "question -> answer", bind(tempreature), bind(max_tokens = limit))]
    reason: dspex::Module,
    #[module(Predict, signature = "question -> answer", bind(temperature, temperature = max_tokens))]
    twice: dspex::Module,
}

fn main() {}
