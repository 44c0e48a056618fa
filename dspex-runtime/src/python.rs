//! Finding the Python interpreter that runs `dspex_bridge`, in this order:
//! `DSPEX_PYTHON`; else the active virtual environment (`VIRTUAL_ENV`); else a `.venv` in
//! the current directory or one of its ancestors; else `python3` on the PATH.
//!
//! Nothing here depends on where the library was built: a program that depends on `dspex`
//! finds the Python of the project it runs in.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use dspex_core::{Error, Result};

/// What to do when Python is missing or lacks `dspex_bridge`.
const FIX: &str = "install the Python package into a virtual environment of your project \
                   (`python3 -m venv .venv && .venv/bin/pip install dspex-bridge`; in the dspex \
                   repository `make setup` does this) or set DSPEX_PYTHON to a Python that has \
                   dspex_bridge installed";

/// The interpreter inside a virtual environment.
const VENV_PYTHON: &str = if cfg!(windows) {
    "Scripts/python.exe"
} else {
    "bin/python"
};

/// The interpreter to start Python processes with, checked once per process: it must run
/// and import `dspex_bridge`. It is `DSPEX_PYTHON` if set, else the Python of the active
/// virtual environment (`VIRTUAL_ENV`), else `.venv/bin/python` in the current directory
/// or the nearest ancestor that has one, else `python3`. The error names the interpreter
/// tried, how it was chosen, and how to install `dspex-bridge`.
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
            let cwd = std::env::current_dir().ok();
            let found = candidate(
                std::env::var_os("DSPEX_PYTHON"),
                std::env::var_os("VIRTUAL_ENV"),
                cwd.as_deref(),
            );
            check(&found).map(|()| found.python)
        })
        .clone()
        .map_err(|message| Error::Python { message })
}

/// An interpreter to try, and why it was chosen (for the error message).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    python: PathBuf,
    source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Explicit,
    ActiveVenv,
    VenvIn(PathBuf),
    Path,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Explicit => f.write_str("set by DSPEX_PYTHON"),
            Source::ActiveVenv => f.write_str("the active virtual environment, VIRTUAL_ENV"),
            Source::VenvIn(dir) => write!(f, "the .venv found in {}", dir.display()),
            Source::Path => {
                f.write_str("no DSPEX_PYTHON, VIRTUAL_ENV or .venv found, so python3 on the PATH")
            }
        }
    }
}

/// The lookup itself, on explicit inputs so that it can be tested without touching the
/// process environment. Empty variables count as unset.
fn candidate(
    explicit: Option<OsString>,
    virtual_env: Option<OsString>,
    cwd: Option<&Path>,
) -> Candidate {
    if let Some(python) = explicit.filter(|p| !p.is_empty()) {
        return Candidate {
            python: PathBuf::from(python),
            source: Source::Explicit,
        };
    }
    if let Some(venv) = virtual_env.filter(|p| !p.is_empty()) {
        return Candidate {
            python: Path::new(&venv).join(VENV_PYTHON),
            source: Source::ActiveVenv,
        };
    }
    cwd.into_iter()
        .flat_map(Path::ancestors)
        .find_map(|dir| {
            let python = dir.join(".venv").join(VENV_PYTHON);
            python.is_file().then(|| Candidate {
                python,
                source: Source::VenvIn(dir.to_path_buf()),
            })
        })
        .unwrap_or_else(|| Candidate {
            python: PathBuf::from("python3"),
            source: Source::Path,
        })
}

/// Exits 1, saying so on stderr, unless `dspex_bridge` is installed.
const FIND_BRIDGE: &str = "import importlib.util, sys\n\
                           if importlib.util.find_spec('dspex_bridge') is None:\n\
                           \x20   sys.exit('No module named dspex_bridge')";

fn check(found: &Candidate) -> std::result::Result<(), String> {
    let Candidate { python, source } = found;
    // Found, not imported: importing it imports DSPy (a fifth of a second before the first
    // worker could start). A package that is installed but broken fails the worker's start,
    // whose stderr says why.
    let out = Command::new(python)
        .args(["-c", FIND_BRIDGE])
        .output()
        .map_err(|e| format!("could not run {} ({source}): {e}; {FIX}", python.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("no output");
        Err(format!(
            "{} ({source}) cannot import dspex_bridge ({last}); {FIX}",
            python.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory tree under the system temp dir, removed on drop.
    struct TempTree(PathBuf);

    impl TempTree {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("dspex-python-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempTree(dir)
        }

        fn venv_in(&self, relative: &str) -> PathBuf {
            let python = self.0.join(relative).join(".venv").join(VENV_PYTHON);
            std::fs::create_dir_all(python.parent().unwrap()).unwrap();
            std::fs::write(&python, "").unwrap();
            python
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn dspex_python_wins_over_everything() {
        let tree = TempTree::new("explicit");
        tree.venv_in("");
        let found = candidate(
            Some("/opt/py/bin/python".into()),
            Some("/venvs/a".into()),
            Some(&tree.0),
        );
        assert_eq!(found.python, PathBuf::from("/opt/py/bin/python"));
        assert_eq!(found.source, Source::Explicit);
    }

    #[test]
    fn an_active_venv_wins_over_a_dot_venv() {
        let tree = TempTree::new("active");
        tree.venv_in("");
        let found = candidate(Some("".into()), Some("/venvs/a".into()), Some(&tree.0));
        assert_eq!(found.python, Path::new("/venvs/a").join(VENV_PYTHON));
        assert_eq!(found.source, Source::ActiveVenv);
    }

    #[test]
    fn the_nearest_dot_venv_above_the_current_directory_is_used() {
        let tree = TempTree::new("ancestors");
        tree.venv_in("");
        let inner = tree.venv_in("project");
        let deep = tree.0.join("project/src/bin");
        std::fs::create_dir_all(&deep).unwrap();
        let found = candidate(None, Some("".into()), Some(&deep));
        assert_eq!(found.python, inner);
        assert_eq!(found.source, Source::VenvIn(tree.0.join("project")));
    }

    #[test]
    fn without_any_venv_python3_on_the_path_is_tried() {
        let found = candidate(None, None, None);
        assert_eq!(found.python, PathBuf::from("python3"));
        assert_eq!(found.source, Source::Path);
    }

    #[test]
    fn a_missing_interpreter_says_how_to_install_dspex_bridge() {
        let found = Candidate {
            python: PathBuf::from("/nonexistent/bin/python"),
            source: Source::Explicit,
        };
        let err = check(&found).unwrap_err();
        assert!(
            err.contains("/nonexistent/bin/python (set by DSPEX_PYTHON)"),
            "{err}"
        );
        assert!(err.contains("pip install dspex-bridge"), "{err}");
        assert!(err.contains("DSPEX_PYTHON"), "{err}");
    }

    #[test]
    fn an_interpreter_without_dspex_bridge_says_how_to_install_it() {
        // `false` runs and fails whatever it is asked: it stands for a Python without the package.
        let found = Candidate {
            python: PathBuf::from("false"),
            source: Source::Path,
        };
        let err = check(&found).unwrap_err();
        assert!(err.contains("cannot import dspex_bridge"), "{err}");
        assert!(err.contains("python3 on the PATH"), "{err}");
        assert!(err.contains("pip install dspex-bridge"), "{err}");
    }
}
