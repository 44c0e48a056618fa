#[dspex::program]
struct Qa {
    #[var(default = 1.0, min = 2.0, max = 1.0)]
    temperature: f64,
    #[var(default = "abc", min_length = 5, max_length = 3)]
    name: String,
}

fn main() {}
