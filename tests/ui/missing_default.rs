#[dspex::program]
struct Qa {
    #[var(min = 0.0)]
    temperature: f64,
    plain: u8,
}

fn main() {}
