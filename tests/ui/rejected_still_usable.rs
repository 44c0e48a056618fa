// An item the macros refuse still exists, with the API it would have had: each mistake is
// one error, and the code using the items adds none.
#[dspex::program]
pub enum Qa {
    A,
}

#[dspex::program]
struct Tuple(#[var(default = 1.0)] f64);

#[derive(dspex::Variables)]
enum NotAStruct {
    A,
}

// Every field refused.
#[dspex::program]
struct Broken {
    #[var(default = "hot")]
    temperature: f64,
    #[var(default = 1)]
    retries: u32,
    #[module(Predict, signature = "question")]
    answer: dspex::Module,
}

#[dspex::program]
fn helper() -> i64 {
    1
}

fn main() -> dspex::Result<()> {
    use dspex::VariableSet;
    let ctx = dspex::Context::new();
    let qa = Qa::new(&ctx)?;
    let _ = qa.context();
    let _ = Qa::A;
    let _: f64 = Tuple::new(&ctx)?.0;
    let _ = NotAStruct::defaults();
    NotAStruct::register(&ctx)?;
    let broken = Broken::new(&ctx)?;
    let _: f64 = broken.temperature()?;
    let _: u32 = broken.retries()?;
    broken.set_retries(3)?;
    let _ = broken.answer();
    let _: i64 = helper();
    Ok(())
}
