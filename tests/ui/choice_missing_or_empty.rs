#[dspex::program]
struct Qa {
    #[var(choice, default = "gpt-4")]
    model: String,
    #[var(choice, default = "gpt-4", choices = [])]
    fallback: String,
    #[var(module, default = "Predict", choices = [])]
    strategy: String,
}

fn main() {}
