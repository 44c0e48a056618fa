#[derive(dspex::Signature)]
struct Qa {
    #[input]
    question: String,
    #[input]
    #[output]
    answer: String,
}

fn main() {
    // The fallback keeps the generated API: no error of its own here.
    let _ = QaOutput { answer: String::new() };
}
