#[derive(dspex::Variables)]
struct Tuning {
    #[var(default = -1, min = 0)]
    retries: i64,
    #[var(default = -10.5, min = -10.0)]
    offset: f64,
}

fn main() {}
