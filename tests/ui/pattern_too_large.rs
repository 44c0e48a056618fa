#[dspex::program]
struct Doc {
    #[var(default = "zzzzzq", pattern = r"(?:[\s\S]{0,1000}z){5}q")]
    text: String,
}

fn main() {}
