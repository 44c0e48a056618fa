/// Adds.
#[dspex::tool]
fn add((a, b): (u32, u32)) -> u32 {
    a + b
}

fn main() {
    let _ = add_tool();
}
