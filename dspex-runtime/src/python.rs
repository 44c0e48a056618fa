//! Finding the Python interpreter that runs `dspex_bridge`: `DSPEX_PYTHON`, else the
//! project's `.venv` (made by `make setup`), else `python3` on the PATH.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dspex_core::{Error, Result};

/// What to run when Python is missing or lacks `dspex_bridge`.
const FIX: &str = "run `make setup` in the dspex repository (it creates .venv with \
                   dspex_bridge installed), or set DSPEX_PYTHON to a Python that has \
                   dspex_bridge installed";

/// The interpreter to start Python processes with, checked once per process: it must run
/// and import `dspex_bridge`.
///
/// ```no_run
/// let python = dspex::python_interpreter()?;
/// println!("workers run {}", python.display());
/// # Ok::<(), dspex::Error>(())
/// ```
pub fn python_interpreter() -> Result<PathBuf> {
    static FOUND: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let candidate = candidate();
            check(&candidate).map(|()| candidate)
        })
        .clone()
        .map_err(|message| Error::Python { message })
}

fn candidate() -> PathBuf {
    if let Some(explicit) = std::env::var_os("DSPEX_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(explicit);
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    // The repository this crate was built from (dspex-runtime/..).
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    roots
        .into_iter()
        .map(|root| root.join(".venv/bin/python"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

fn check(python: &Path) -> std::result::Result<(), String> {
    let out = Command::new(python)
        .args(["-c", "import dspex_bridge"])
        .output()
        .map_err(|e| format!("could not run {}: {e}; {FIX}", python.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("no output");
        Err(format!(
            "{} cannot import dspex_bridge ({last}); {FIX}",
            python.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interpreter_says_what_to_run() {
        let err = check(Path::new("/nonexistent/bin/python")).unwrap_err();
        assert!(err.contains("make setup"), "{err}");
        assert!(err.contains("DSPEX_PYTHON"), "{err}");
    }

    #[test]
    fn an_interpreter_without_dspex_bridge_says_what_to_run() {
        // `false` runs and fails whatever it is asked: it stands for a broken Python.
        let err = check(Path::new("false")).unwrap_err();
        assert!(err.contains("cannot import dspex_bridge"), "{err}");
        assert!(err.contains("make setup"), "{err}");
    }
}
