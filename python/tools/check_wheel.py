"""Builds the dspex-bridge wheel from `python/` and imports it from a fresh virtual environment.

This is what a user gets from `pip install ./python` or a published wheel, with no Makefile and
no code generation: the check fails if the wheel lacks the generated gRPC modules, their stubs or
`py.typed`, or if the installed package cannot import them.

    python tools/check_wheel.py

The wheel is installed without its dependencies (DSPy is large and not needed to import the
package) next to the pinned grpcio, protobuf and pydantic read from pyproject.toml; pip's cache makes a
second run cheap.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
import venv
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]

# What a user's code does first; run from outside the repository, so only the installed copy can answer.
SMOKE = """
import importlib.util, dspex_bridge
from dspex_bridge import SessionContext, SyncSessionContext
from dspex_bridge._proto import variables_pb2, variables_pb2_grpc, worker_pb2, worker_pb2_grpc
assert "site-packages" in dspex_bridge.__file__, dspex_bridge.__file__
assert importlib.util.find_spec("dspex") is None, "the generated modules must not need a top-level `dspex`"
request = variables_pb2.GetVariableRequest(session_id="s", name="temperature")
assert variables_pb2.GetVariableRequest.FromString(request.SerializeToString()) == request
print("dspex_bridge", dspex_bridge.__file__)
"""


def run(*command: str | Path, cwd: Path | None = None) -> None:
    subprocess.run([str(part) for part in command], cwd=cwd, check=True)


def runtime_pins() -> list[str]:
    """The pinned requirements the package needs at import time (grpcio, protobuf, pydantic)."""
    with (PROJECT / "pyproject.toml").open("rb") as file:
        dependencies: list[str] = tomllib.load(file)["project"]["dependencies"]
    return [d for d in dependencies if d.split("=")[0].strip() in {"grpcio", "protobuf", "pydantic"}]


def check_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        "dspex_bridge/py.typed",
        "dspex_bridge/_proto/__init__.py",
        "dspex_bridge/_proto/variables_pb2.py",
        "dspex_bridge/_proto/variables_pb2.pyi",
        "dspex_bridge/_proto/variables_pb2_grpc.py",
        "dspex_bridge/_proto/variables_pb2_grpc.pyi",
        "dspex_bridge/_proto/worker_pb2.py",
        "dspex_bridge/_proto/worker_pb2_grpc.py",
    }
    missing = sorted(wanted - names)
    if missing:
        sys.exit(f"{wheel.name} lacks {', '.join(missing)}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="dspex-wheel-") as raw:
        scratch = Path(raw)
        run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", scratch, PROJECT)
        wheels = sorted(scratch.glob("dspex_bridge-*.whl"))
        if len(wheels) != 1:
            sys.exit(f"expected one dspex_bridge wheel, found {[w.name for w in wheels]}")
        check_contents(wheels[0])
        # No pip of its own (ensurepip is slow): this interpreter's pip installs into it.
        venv.create(scratch / "venv", with_pip=False)
        python = scratch / "venv" / "bin" / "python"
        pip = (sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--disable-pip-version-check")
        run(*pip, *runtime_pins())
        run(*pip, "--no-deps", wheels[0])
        run(python, "-c", SMOKE, cwd=scratch)


if __name__ == "__main__":
    main()
