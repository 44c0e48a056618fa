#[dspex::program]
struct Qa {
    #[var(default = 0.7, min_length = 1, choices = ["a"])]
    temperature: f64,
    #[var(default = true, max = 1)]
    verbose: bool,
    #[var(default = "x", min = 0)]
    name: String,
}

fn main() {}
