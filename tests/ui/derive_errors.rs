#[derive(dspex::Variables)]
struct Tuning {
    #[var(default = 0.7, min = 0.0, max = 2.0)]
    temperature: f64,
    #[var(default = 0, min = 1)]
    max_tokens: i64,
    #[var(choice, default = "gpt-5", choices = ["gpt-4"])]
    model: String,
}

#[derive(dspex::Variables)]
enum NotAStruct {
    A,
}

fn main() {
    use dspex::VariableSet;
    // Still implemented (fallback): no further error here.
    let _ = Tuning::defaults().temperature;
}
