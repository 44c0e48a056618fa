/// Shouts.
#[dspex::tool]
fn shout(text: &str) -> String {
    text.to_uppercase()
}

fn main() {
    let _ = shout_tool();
}
