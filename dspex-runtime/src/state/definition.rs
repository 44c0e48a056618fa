//! Checking what goes into any backend: a new definition, an imported variable, a written
//! value. Every backend calls these before it stores anything, so the rules (which live in
//! [`dspex_core::Schema`]) are applied the same way everywhere.

use std::sync::atomic::{AtomicU64, Ordering};

use dspex_core::{
    Error, Metadata, Result, Schema, Value, VarId, Variable, VariableDef, check_name, limits,
};

/// A checked, new variable (name, definition, initial value) at version 0 with a fresh
/// id, and its compiled definition.
pub(crate) fn checked_new(def: VariableDef) -> Result<(Variable, Schema)> {
    let VariableDef {
        name,
        var_type,
        initial,
        opts,
    } = def;
    check_name(&name).map_err(|e| Error::from_definition(&name, e))?;
    let schema =
        Schema::new(var_type, opts.constraints).map_err(|e| Error::from_definition(&name, e))?;
    check_options(&name, opts.description.as_deref(), &opts.metadata)?;
    let value = check_value(&schema, &name, initial)?;
    let now = now_ms();
    let var = Variable {
        id: new_var_id(),
        name,
        var_type,
        value,
        constraints: schema.constraints().clone(),
        description: opts.description,
        metadata: opts.metadata,
        version: 0,
        created_at_ms: now,
        updated_at_ms: now,
    };
    Ok((var, schema))
}

/// A whole variable from elsewhere (a saved context, another Context), checked: its name,
/// its id, its definition and its value. Its version and timestamps are kept.
pub(crate) fn checked_import(mut var: Variable) -> Result<(Variable, Schema)> {
    check_name(&var.name).map_err(|e| Error::from_definition(&var.name, e))?;
    if !var.id.contains('-') {
        return Err(Error::InvalidDefinition {
            name: var.name.clone(),
            reason: format!("id {:?} is not a variable id (ids contain `-`)", var.id),
        });
    }
    let schema = Schema::new(var.var_type, var.constraints.clone())
        .map_err(|e| Error::from_definition(&var.name, e))?;
    check_options(&var.name, var.description.as_deref(), &var.metadata)?;
    var.value = check_value(&schema, &var.name, var.value)?;
    var.constraints = schema.constraints().clone();
    Ok((var, schema))
}

/// A value coerced and checked against a variable's definition, or the error naming it.
#[inline]
pub(crate) fn check_value(schema: &Schema, name: &str, value: Value) -> Result<Value> {
    schema
        .check(value)
        .map_err(|v| Error::from_violation(name, v))
}

/// The description and metadata of a definition, against their limits.
fn check_options(name: &str, description: Option<&str>, metadata: &Metadata) -> Result<()> {
    description
        .map(limits::check_description)
        .transpose()
        .and_then(|_| limits::check_metadata(metadata))
        .map_err(|e| Error::from_definition(name, e.into()))
}

/// A write's metadata, merged into the variable's, against the metadata limits (a write
/// that would break them changes nothing).
pub(crate) fn check_merged_metadata(var: &Variable, md: &Metadata) -> Result<()> {
    let within = if md.keys().all(|k| var.metadata.contains_key(k)) {
        // Nothing new: the count stays; only the written entries need a look.
        limits::check_metadata(md)
    } else {
        let mut merged = var.metadata.clone();
        merged.extend(md.iter().map(|(k, v)| (k.clone(), v.clone())));
        limits::check_metadata(&merged)
    };
    within.map_err(|e| Error::InvalidArgument {
        message: format!(
            "variable `{}`: the write's metadata is refused: {e}",
            dspex_core::quote::excerpt(&var.name)
        ),
    })
}

/// A process-unique id: `var-<process nonce>-<counter>`. The nonce keeps ids restored from
/// a file saved by another process (or made by another process on a shared backend) from
/// colliding with this process's own.
pub(crate) fn new_var_id() -> VarId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "var-{:06x}-{}",
        crate::ids::process_nonce() & 0xff_ffff,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Milliseconds since the Unix epoch, from the coarse clock where there is one: a write
/// stamps its time, and on these VMs a precise clock read (~60 ns) would be a third of the
/// cost of a validated `set`; the coarse one costs a few ns and is precise to a few ms.
pub(crate) fn now_ms() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
            return (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000;
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
