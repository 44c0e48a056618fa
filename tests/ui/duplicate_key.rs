#[dspex::program]
struct Qa {
    #[var(default = 0.7, min = 0.0, min = 0.5)]
    temperature: f64,
    #[var(default = 1, default = 2)]
    retries: i64,
    #[var(default = "x", description = "a", description = "b")]
    name: String,
}

fn main() {}
