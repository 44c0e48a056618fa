//! One run in a worker — an evaluation, an optimizer, a variable search — from the Rust
//! side: the program's modules gathered on one worker, the metric served, the request
//! sent, the progress reported as it streams, the result returned.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dspex_core::{Error, Result};

use super::example::Example;
use super::metric::{MetricCallback, MetricSource};
use super::optimizable::Optimizable;
use super::progress::ProgressSink;
use crate::Module;
use crate::bridge::convert::value_to_pb;
use crate::tool::registry;
use crate::typed::Signature;
use crate::worker::{Pool, pb};

/// What a run is asked to do.
pub(crate) struct RunSpec<'a, S: Signature> {
    pub(crate) task: pb::run_request::Task,
    pub(crate) trainset: &'a [Example<S>],
    pub(crate) devset: &'a [Example<S>],
    pub(crate) metric: MetricSource<S>,
    pub(crate) concurrency: usize,
    pub(crate) progress: ProgressSink,
}

/// What a run gave back.
pub(crate) struct RunOutcome {
    pub(crate) result: pb::RunResult,
    /// The program's modules, by name (the live ones, not the run's copies).
    pub(crate) modules: Vec<(String, Module)>,
    pub(crate) wall: Duration,
    /// Time in the Rust metric, and its calls.
    pub(crate) metric_time: Duration,
    pub(crate) metric_calls: u64,
}

/// Modules copied to the run's worker for the run, dropped with it.
struct Copies {
    pool: Arc<Pool>,
    slot: usize,
    ids: Vec<String>,
}

impl Drop for Copies {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            self.pool.drop_module(self.slot, id);
        }
    }
}

/// Runs `spec` on `program`.
pub(crate) async fn execute<P: Optimizable>(
    program: &P,
    spec: RunSpec<'_, P::Signature>,
) -> Result<RunOutcome> {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let started = Instant::now();
    let modules = program.modules().await?;
    let Some((_, first)) = modules.first() else {
        return Err(Error::InvalidArgument {
            message: "the program has no module to run".into(),
        });
    };
    let ctx = program.context();
    let (pool, slot) = first.placement();
    let pool = pool.clone();
    let run_id = format!("{}-run-{}", ctx.id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut copies = Copies {
        pool: pool.clone(),
        slot,
        ids: Vec::new(),
    };
    let mut run_modules = Vec::with_capacity(modules.len());
    for (name, module) in &modules {
        let module_id = if module.worker() == slot {
            module.id().to_owned()
        } else {
            copy_to(
                &pool,
                slot,
                module,
                &format!("{run_id}-{name}"),
                &mut copies,
            )
            .await?
        };
        run_modules.push(pb::RunModule {
            name: name.clone(),
            module_id,
        });
    }
    let variables = bound_values(ctx, &modules)?;

    let RunSpec {
        task,
        trainset,
        devset,
        metric,
        concurrency,
        progress,
    } = spec;
    let encode =
        |set: &[Example<P::Signature>]| set.iter().map(Example::to_pb).collect::<Result<Vec<_>>>();
    let request = pb::RunRequest {
        run_id: run_id.clone(),
        session_id: ctx.id().to_owned(),
        modules: run_modules,
        outputs: P::Signature::spec()
            .outputs()
            .iter()
            .map(|f| f.name().to_owned())
            .collect(),
        trainset: encode(trainset)?,
        devset: encode(devset)?,
        metric: Some(metric.to_pb()),
        variables,
        concurrency: u32::try_from(concurrency.max(1)).unwrap_or(u32::MAX),
        task: Some(task),
    };
    crate::bridge::check_message_size("the run's request (its examples)", &request)?;

    // The metric is served while the run lives; its calls run on the caller's runtime.
    let callback = match &metric {
        MetricSource::Rust(metric) => Some(MetricCallback::new(metric.clone(), trainset, devset)?),
        MetricSource::Python(_) => None,
    };
    let _registration = match &callback {
        Some(callback) => {
            let runtime = match tokio::runtime::Handle::try_current() {
                Ok(handle) => handle,
                Err(_) => crate::runtime::handle()?.clone(),
            };
            Some(registry::register(
                ctx.id(),
                &run_id,
                [callback.tool()],
                runtime,
            ))
        }
        None => None,
    };

    let mut events = pool
        .rpc(slot, &run_id, |mut c| {
            let request = request.clone();
            async move { c.run(request).await }
        })
        .await?;
    let result = loop {
        match events.message().await {
            Ok(Some(pb::RunEvent {
                kind: Some(pb::run_event::Kind::Progress(event)),
            })) => progress.report(event, started),
            Ok(Some(pb::RunEvent {
                kind: Some(pb::run_event::Kind::Done(result)),
            })) => break result,
            Ok(Some(pb::RunEvent { kind: None })) => {}
            Ok(None) => {
                return Err(Error::Python {
                    message: format!("the worker ended run `{run_id}` before its result"),
                });
            }
            Err(status) => return Err(pool.stream_error(slot, &run_id, status).await),
        }
    };
    drop(copies);
    let (metric_time, metric_calls) = callback.map(|c| c.spent()).unwrap_or_default();
    Ok(RunOutcome {
        result,
        modules,
        wall: started.elapsed(),
        metric_time,
        metric_calls,
    })
}

/// Creates a copy of `module` (its request and its state) on `slot`, for a run there.
async fn copy_to(
    pool: &Arc<Pool>,
    slot: usize,
    module: &Module,
    copy_id: &str,
    copies: &mut Copies,
) -> Result<String> {
    let (_, mut request) = pool
        .module_spec(module.id())
        .ok_or_else(|| Error::NotFound {
            what: "module",
            name: module.id().to_owned(),
        })?;
    let state = pool.dump_state(module.worker(), module.id()).await?;
    request.module_id = copy_id.to_owned();
    request.state_json = Some(state.state_json);
    pool.create_module(slot, request).await?;
    copies.ids.push(copy_id.to_owned());
    Ok(copy_id.to_owned())
}

/// The values of every variable the modules are bound to, read now.
fn bound_values(
    ctx: &crate::Context,
    modules: &[(String, Module)],
) -> Result<HashMap<String, pb::Value>> {
    let mut names: Vec<String> = modules
        .iter()
        .flat_map(|(_, m)| m.bindings().into_iter().map(|(_, variable)| variable))
        .collect();
    names.sort();
    names.dedup();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    Ok(ctx
        .get_many(&names)?
        .iter()
        .map(|(name, value)| (name.clone(), value_to_pb(value)))
        .collect())
}
