#[dspex::program]
struct Qa {
    #[var(default = "hot")]
    temperature: f64,
    #[var(default = 2.5)]
    max_tokens: i64,
    #[var(default = 1)]
    verbose: bool,
    #[var(default = 3)]
    instructions: String,
    // An integer literal for a float is fine, and so is a whole float for an integer.
    #[var(default = 1)]
    top_p: f64,
    #[var(default = 3.0)]
    retries: i64,
}

fn main() {}
