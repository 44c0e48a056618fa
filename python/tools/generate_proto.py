"""Generates `dspex_bridge/_proto/` — the gRPC modules and their type stubs — from the `.proto` files.

The generated modules are committed, so that `pip install` needs neither `make` nor a protobuf
compiler. protoc names imports after the `.proto` package (`from dspex.bridge.v1 import ...`);
they are rewritten to package-relative ones so that the modules live inside `dspex_bridge` and
no top-level `dspex` package is needed on `sys.path`.

    python tools/generate_proto.py --protos ../dspex-runtime/proto --out dspex_bridge/_proto
    python tools/generate_proto.py --protos ../dspex-runtime/proto --out dspex_bridge/_proto --check

`--check` generates into a temporary directory and fails, listing the differences, when the
committed modules are not what the `.proto` files give (a `.proto` changed without regenerating,
or a generated file was edited by hand). Needs the `test` extras (grpcio-tools, mypy-protobuf).
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

INIT = '''"""Generated from the `.proto` files by `python/tools/generate_proto.py`: do not edit."""
'''


def plugin(name: str) -> str:
    """A protoc plugin installed next to this interpreter (the venv's bin/), else on the PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        sys.exit(f"{name} not found: install the test extras (`pip install -e 'python[test]'`)")
    return found


def own_imports(protos: Path, sources: list[Path]) -> re.Pattern[str]:
    """Matches `from dspex.bridge.v1 import variables_pb2`: an import of a module generated here
    (imports of other packages, e.g. `google.protobuf`, are left alone)."""
    packages = sorted({".".join(source.relative_to(protos).parent.parts) for source in sources})
    alternatives = "|".join(re.escape(package) for package in packages)
    return re.compile(rf"^from (?:{alternatives}) import (\w+_pb2)\b", re.MULTILINE)


def generate(protos: Path, out: Path) -> None:
    """Runs protoc (grpcio-tools) with the Python, gRPC and mypy-protobuf outputs into `out`, flat."""
    sources = sorted(protos.rglob("*.proto"))
    if not sources:
        sys.exit(f"no .proto files under {protos}")
    with tempfile.TemporaryDirectory() as raw:
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{protos}",
            f"--plugin=protoc-gen-mypy={plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={raw}",
            f"--grpc_python_out={raw}",
            f"--mypy_out={raw}",
            f"--mypy_grpc_out={raw}",
            *map(str, sources),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"protoc failed:\n{result.stderr}")
        out.mkdir(parents=True, exist_ok=True)
        absolute = own_imports(protos, sources)
        generated = sorted(p for p in Path(raw).rglob("*") if p.is_file())
        if len({p.name for p in generated}) != len(generated):
            sys.exit(f"two .proto files under {protos} have the same name: the generated package is flat")
        for path in generated:
            text = absolute.sub(r"from . import \1", path.read_text(encoding="utf-8"))
            (out / path.name).write_text(text, encoding="utf-8")
    (out / "__init__.py").write_text(INIT, encoding="utf-8")


def differences(expected: Path, actual: Path) -> list[str]:
    """Unified diffs (or missing/extra notes) between two flat directories of generated files."""
    report: list[str] = []
    names = {p.name for p in expected.iterdir()} | {p.name for p in actual.iterdir() if p.is_file()}
    for name in sorted(names):
        want, have = expected / name, actual / name
        if not want.exists():
            report.append(f"{have}: not generated from any .proto (remove it)")
        elif not have.exists():
            report.append(f"{have}: missing")
        elif want.read_text(encoding="utf-8") != have.read_text(encoding="utf-8"):
            diff = difflib.unified_diff(
                have.read_text(encoding="utf-8").splitlines(keepends=True),
                want.read_text(encoding="utf-8").splitlines(keepends=True),
                fromfile=str(have),
                tofile=f"{name} as generated",
                n=1,
            )
            report.append("".join(list(diff)[:40]))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--protos", type=Path, required=True, help="the include root of the .proto files")
    parser.add_argument("--out", type=Path, required=True, help="the generated package, e.g. dspex_bridge/_proto")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args()
    if not args.check:
        if args.out.exists():
            shutil.rmtree(args.out)
        generate(args.protos, args.out)
        return
    with tempfile.TemporaryDirectory() as fresh:
        generate(args.protos, Path(fresh))
        report = differences(Path(fresh), args.out) if args.out.is_dir() else [f"{args.out}: missing"]
    if report:
        print("\n".join(report), file=sys.stderr)
        sys.exit(f"{args.out} is out of date with {args.protos}: run `make proto` and commit the result")


if __name__ == "__main__":
    main()
