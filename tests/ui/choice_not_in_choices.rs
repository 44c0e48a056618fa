#[dspex::program]
struct Qa {
    #[var(choice, default = "gpt-5", choices = ["gpt-4", "claude-3"])]
    model: String,
    #[var(module, default = "Retry", choices = ["Predict", "ChainOfThought"])]
    strategy: String,
}

fn main() {}
