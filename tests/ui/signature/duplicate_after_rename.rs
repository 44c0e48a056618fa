#[derive(dspex::Signature)]
struct Qa {
    #[input]
    question: String,
    #[output]
    #[serde(rename = "question")]
    answer: String,
    #[output]
    #[serde(rename = "not-a-name")]
    notes: String,
}

fn main() {}
