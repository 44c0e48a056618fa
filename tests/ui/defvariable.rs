fn main() {
    let ctx = dspex::Context::new();
    let _ = dspex::defvariable!(ctx, temperature: float = 2.5, min = 0.0, max = 2.0);
    let _ = dspex::defvariable!(ctx, count: integer = 2.5);
    let _ = dspex::defvariable!(ctx, verbose: boolean = 1);
    let _ = dspex::defvariable!(ctx, model: choice = "gpt-4");
    let _ = dspex::defvariable!(ctx, name: string = "x", pattern = "(");
    let _ = dspex::defvariable!(ctx, ratio: double = 0.5);
    let _ = dspex::defvariable!(ctx, top_p: float = 0.5, maximum = 1.0);
    let _ = dspex::defvariable!(ctx, "9lives": integer = 9);
}
