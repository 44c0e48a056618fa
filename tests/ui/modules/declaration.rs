#[dspex::program]
struct Qa {
    #[var(default = 0.7)]
    temperature: f64,
    #[module(signature = "question -> answer")]
    no_type: dspex::Module,
    #[module(Predict)]
    no_signature: dspex::Module,
    #[module(Predict, signature = "q -> a", retries = 3)]
    unknown_key: dspex::Module,
    #[module(Predict, signature = "q -> a")]
    wrong_type: String,
    #[module(Predict, signature = "q -> a")]
    temperature: dspex::Module,
}

fn main() {}
