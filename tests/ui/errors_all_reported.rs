// Several mistakes: every one is reported in one build, each on its token, and the code
// using the program sees its full API (no error cascades to the uses).
#[dspex::program]
pub struct Qa {
    #[var(default = 2.5, min = 0.0, max = 2.0)]
    temperature: f64,
    #[var(default = 256, min = 1, max = 4096)]
    max_tokens: i64,
    #[var(choice, default = "gpt-5", choices = ["gpt-4", "claude-3"])]
    model: String,
    #[var(default = "x", pattern = "[")]
    instructions: String,
}

fn main() -> dspex::Result<()> {
    let ctx = dspex::Context::new();
    let qa = Qa::new(&ctx)?;
    let _: f64 = qa.temperature()?;
    let _: i64 = qa.max_tokens()?;
    qa.set_model("claude-3")?;
    let _ = qa.context();
    Ok(())
}
