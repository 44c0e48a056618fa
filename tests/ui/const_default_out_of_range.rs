const TEMPERATURE: f64 = 3.0;

#[dspex::program]
struct Qa {
    #[var(default = TEMPERATURE, min = 0.0, max = 2.0)]
    temperature: f64,
}

const RETRIES: i64 = 3;

#[dspex::program]
struct Typed {
    // A const of the wrong type is a type error.
    #[var(default = RETRIES)]
    ratio: f64,
}

fn main() {}
