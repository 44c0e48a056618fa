#[dspex::tool]
struct Lookup {
    id: u64,
}

fn main() {}
