#[derive(dspex::Signature)]
struct Qa {
    #[output]
    answer: String,
}

fn main() {}
