#[dspex::program]
struct Qa {
    #[var(default = "", min_length = 1)]
    name: String,
    #[var(default = "far too long", max_length = 5)]
    title: String,
    #[var(default = "be brief.", pattern = "^[A-Z]")]
    instructions: String,
}

fn main() {}
