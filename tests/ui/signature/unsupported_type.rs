use serde::{Deserialize, Serialize};

// Everything but `schemars::JsonSchema`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u32,
}

#[derive(dspex::Signature)]
struct Extract {
    #[input]
    text: String,
    #[output]
    order: Order,
}

fn main() {}
