//! Evaluating and optimizing programs from Rust: typed examples, a Rust (or Python)
//! metric, DSPy's `Evaluate` and optimizers running in the worker on the program's modules,
//! the Context's variables searched as learnable parameters, progress as a stream, and one
//! saved file that a fresh process loads without optimizing again.

mod artifact;
mod evaluate;
mod example;
mod metric;
pub(crate) use metric::{MetricSource, rust_metric};
mod optimizable;
pub(crate) mod optimizers;
mod progress;
mod run;
mod search;

pub use artifact::{SCHEMA_VERSION, load_program, save};
pub use evaluate::{EvalBuilder, EvalReport, ExampleResult, evaluate, evaluate_with_python_metric};
pub use example::Example;
pub use metric::Score;
pub use optimizable::{DeclaredModule, DeclaredProgram, DeclaredSignature, Optimizable};
pub use optimizers::{
    Auto, BootstrapFewShot, BootstrapFewShotWithRandomSearch, CompileBuilder, Gepa, MiproV2,
    OptimizeReport, Optimized, TrialReport,
};
pub use progress::{Progress, ProgressStream};
pub use search::VariableSearch;
