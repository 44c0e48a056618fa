#[derive(dspex::Signature)]
struct Qa {
    #[input]
    question: String,
}

fn main() {}
