//! Checking what goes into any backend: a new definition, an imported variable, a written
//! value. Every backend calls these before it stores anything, so the rules (which live in
//! [`dspex_core::Schema`]) are applied the same way everywhere.

use std::sync::atomic::{AtomicU64, Ordering};

use dspex_core::{Error, Result, Schema, Value, VarId, Variable, VariableDef, check_name};

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
