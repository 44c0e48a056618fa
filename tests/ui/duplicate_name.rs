#[dspex::program]
struct Qa {
    #[var(default = 0.7)]
    temperature: f64,
    #[var(default = 0.9)]
    temperature: f64,
}

fn main() {}
