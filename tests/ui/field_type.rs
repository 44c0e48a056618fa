#[dspex::program]
struct Qa {
    #[var(default = 0.7)]
    temperature: f32,
    #[var(default = 1)]
    retries: u32,
    #[var(choice, default = "a", choices = ["a"])]
    model: &'static str,
    #[var(choice, default = 1.0, choices = ["a"])]
    weight: f64,
}

fn main() {}
