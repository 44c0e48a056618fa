#[derive(dspex::Signature)]
#[serde(rename_all = "camelCase")]
struct Qa {
    #[input(required)]
    question: String,
    #[output]
    #[serde(skip)]
    answer: String,
    #[output]
    #[serde(rename(serialize = "a", deserialize = "b"))]
    other: String,
}

#[derive(dspex::Signature)]
struct Generic<T> {
    #[input]
    question: T,
    #[output]
    answer: String,
}

#[derive(dspex::Signature)]
enum NotAStruct {}

fn main() {}
