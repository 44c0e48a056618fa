#[dspex::program]
struct Qa {
    #[var(default = "x", pattern = "([a-z]")]
    name: String,
}

fn main() {}
