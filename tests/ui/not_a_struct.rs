#[dspex::program]
enum Qa {
    A,
}

#[dspex::program]
struct Tuple(f64);

#[dspex::program]
struct Generic<T> {
    #[var(default = 1.0)]
    t: f64,
    x: T,
}

fn main() {}
