#[dspex::program]
struct Qa {
    #[var(default = 2.5, min = 0.0, max = 2.0)]
    temperature: f64,
}

fn main() {}
