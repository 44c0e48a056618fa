#[dspex::program]
struct Qa {
    #[var(default = 0.7, maximum = 2.0)]
    temperature: f64,
    #[var(default = 1, choise)]
    retries: i64,
}

fn main() {}
