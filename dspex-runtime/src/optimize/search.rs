//! `VariableSearch`: the Context's variables as learnable parameters. Optuna (in the
//! worker) proposes values within each variable's declared constraints; each trial writes
//! them through the normal validated path (versions move, watchers see every trial),
//! scores the program, and the best values are left in the Context.

use std::collections::BTreeSet;

use dspex_core::{Error, Result, Value, VarType};

use super::optimizers::{Plan, compile_methods};
use crate::Context;
use crate::bridge::convert::value_to_pb;
use crate::worker::pb;

/// Searches values of chosen variables of the program's Context: boolean, choice and
/// `module` variables over their values (a `module` variable switches the class of the
/// modules made from it), integer and float variables over `[min, max]` (on a log scale
/// with [`log_scale`](VariableSearch::log_scale)). A variable the search needs bounds or
/// choices for and has none is an error before any trial runs.
///
/// ```no_run
/// # #[derive(dspex::Signature)] struct Qa { #[input] question: String, #[output] answer: String }
/// # async fn demo(qa: dspex::TypedModule<Qa>, devset: Vec<dspex::Example<Qa>>) -> dspex::Result<()> {
/// use dspex::{Example, VariableSearch};
/// let optimized = VariableSearch::new(["temperature", "strategy"])
///     .trials(12)
///     .compile(&qa, &devset, |example: &Example<Qa>, prediction: &QaOutput| {
///         example.output.answer == prediction.answer
///     })
///     .await?;
/// println!("best: {:?}", optimized.report().best_values);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct VariableSearch {
    names: Vec<String>,
    trials: usize,
    seed: Option<u64>,
    log: BTreeSet<String>,
}

impl VariableSearch {
    /// A search over the variables `names` (16 trials).
    pub fn new<N: AsRef<str>>(names: impl IntoIterator<Item = N>) -> VariableSearch {
        VariableSearch {
            names: names.into_iter().map(|n| n.as_ref().to_owned()).collect(),
            trials: 16,
            seed: None,
            log: BTreeSet::new(),
        }
    }

    /// How many value sets are tried.
    pub fn trials(mut self, n: usize) -> Self {
        self.trials = n.max(1);
        self
    }

    /// The seed of Optuna's sampler (the same seed proposes the same trials).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Samples the numeric variable `name` on a log scale (its min must be above 0).
    pub fn log_scale(mut self, name: &str) -> Self {
        self.log.insert(name.to_owned());
        self
    }

    /// The variables searched.
    pub fn variables(&self) -> &[String] {
        &self.names
    }

    compile_methods!(
        |this: &Self| Plan::Search(this.clone()),
        "Searches on the dev set `examples` (the Context is left holding the best values, the report holds every trial)"
    );

    /// The task for the worker: each variable with the space its definition allows.
    pub(crate) fn task(&self, ctx: &Context) -> Result<pb::run_request::Task> {
        if self.names.is_empty() {
            return Err(Error::InvalidArgument {
                message: "VariableSearch was given no variable to search".into(),
            });
        }
        let variables = self
            .names
            .iter()
            .map(|name| self.space(ctx, name))
            .collect::<Result<_>>()?;
        Ok(pb::run_request::Task::VariableSearch(
            pb::VariableSearchTask {
                variables,
                trials: u32::try_from(self.trials).unwrap_or(u32::MAX),
                seed: self.seed,
            },
        ))
    }

    /// The names of the `module` variables searched (the modules made from them are
    /// created again once the search has set the best class).
    pub(crate) fn module_variables(&self, ctx: &Context) -> Vec<String> {
        self.names
            .iter()
            .filter(|n| ctx.variable(n).is_ok_and(|v| v.var_type == VarType::Module))
            .cloned()
            .collect()
    }

    fn space(&self, ctx: &Context, name: &str) -> Result<pb::SearchedVariable> {
        let var = ctx.variable(name)?;
        let c = &var.constraints;
        let refuse = |why: String| Error::InvalidArgument {
            message: format!("VariableSearch cannot search `{name}`: {why}"),
        };
        let log = self.log.contains(name);
        let mut space = pb::SearchedVariable {
            name: var.name.clone(),
            r#type: crate::bridge::convert::var_type_to_pb(var.var_type) as i32,
            candidates: Vec::new(),
            min: None,
            max: None,
            log,
        };
        match var.var_type {
            VarType::Boolean => {
                space.candidates = vec![
                    value_to_pb(&Value::Boolean(false)),
                    value_to_pb(&Value::Boolean(true)),
                ];
            }
            VarType::Choice | VarType::Module => {
                let Some(choices) = c.choices.as_ref().filter(|c| !c.is_empty()) else {
                    return Err(refuse(format!(
                        "the {} variable declares no choices to search among",
                        var.var_type
                    )));
                };
                space.candidates = choices
                    .iter()
                    .map(|c| value_to_pb(&Value::String(c.clone())))
                    .collect();
            }
            VarType::Integer | VarType::Float => {
                let (Some(min), Some(max)) = (&c.min, &c.max) else {
                    let missing = if c.min.is_none() { "min" } else { "max" };
                    return Err(refuse(format!(
                        "the {} variable declares no {missing}; the search needs both bounds",
                        var.var_type
                    )));
                };
                let positive = match min {
                    Value::Integer(m) => *m > 0,
                    Value::Float(m) => *m > 0.0,
                    _ => false,
                };
                if log && !positive {
                    return Err(refuse(format!(
                        "a log scale needs a min above 0 (it is {min})"
                    )));
                }
                space.min = Some(value_to_pb(min));
                space.max = Some(value_to_pb(max));
            }
            VarType::String => {
                return Err(refuse(
                    "a string variable has no space to search (boolean, choice, module, integer and float variables do)"
                        .into(),
                ));
            }
        }
        if log && !matches!(var.var_type, VarType::Integer | VarType::Float) {
            return Err(refuse(format!(
                "a log scale applies to numbers, and it is a {} variable",
                var.var_type
            )));
        }
        Ok(space)
    }
}
