#[derive(dspex::Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    answer: String,
    notes: String,
}

fn main() {}
