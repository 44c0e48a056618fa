/// Echoes.
#[dspex::tool]
fn echo<T: serde::Serialize>(value: u32) -> u32 {
    value
}

fn main() {
    let _ = echo_tool();
}
