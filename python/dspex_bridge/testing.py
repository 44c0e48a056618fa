"""A real Rust bridge for tests and benchmarks: the `bridge_fixture` binary of the dspex
repository (`tests/support/bridge_fixture.rs`, built by `cargo build --example bridge_fixture`),
run as a child process. It is found through ``$DSPEX_BRIDGE_FIXTURE``, else in the target
directory cargo reports for the repository (so ``CARGO_TARGET_DIR`` and ``build.target-dir``
are honoured).

The binary prints one JSON line, ``{"address", "token", "session_id"}`` (that session holds
``temperature``, a float 0.7 in [0, 2], and ``max_tokens``, an integer 256 in [1, 4096]), then
answers one JSON line per command read on stdin: ``new_session``, ``get <session> <name>``
(read on the Rust side), ``quit``. Closing its stdin ends it, so it never outlives the tests.

```python
with BridgeFixture.start() as bridge:
    channel = grpc.insecure_channel(bridge.address)
    session = SyncSessionContext(bridge.session_id, channel, token=bridge.token)
```
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Final, Self

FIXTURE_ENV: Final = "DSPEX_BRIDGE_FIXTURE"
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
FIXTURE_NAME: Final = "bridge_fixture"


def percentile_us(sorted_ns: list[int], q: float) -> float:
    """The q-quantile (nearest rank) of sorted nanoseconds, in µs."""
    index = min(len(sorted_ns) - 1, max(0, round(q * len(sorted_ns)) - 1))
    return sorted_ns[index] / 1000.0


def latency_summary(samples_ns: list[int]) -> dict[str, float]:
    """p50, p99, mean and min, in µs, of latencies in nanoseconds (for the benchmarks)."""
    ordered = sorted(samples_ns)
    return {
        "p50_us": round(percentile_us(ordered, 0.50), 1),
        "p99_us": round(percentile_us(ordered, 0.99), 1),
        "mean_us": round(sum(ordered) / len(ordered) / 1000.0, 1),
        "min_us": round(ordered[0] / 1000.0, 1),
    }


class BridgeFixtureError(RuntimeError):
    """The fixture process could not be found or started, or answered with an error."""


def cargo_target_dir(workspace: Path = REPO_ROOT) -> Path:
    """The directory cargo builds `workspace` into, as ``cargo metadata`` reports it.

    Asking cargo, rather than assuming ``<workspace>/target``, honours everything that moves it:
    ``CARGO_TARGET_DIR``, ``CARGO_BUILD_TARGET_DIR``, ``build.target-dir`` in a
    ``.cargo/config.toml``. ``$CARGO`` names the cargo to ask (as cargo itself sets it).
    """
    cargo = os.environ.get("CARGO") or "cargo"
    manifest = str(workspace / "Cargo.toml")
    command = [cargo, "metadata", "--format-version", "1", "--no-deps", "--manifest-path", manifest]
    hint = f"point ${FIXTURE_ENV} at the bridge_fixture binary instead"
    try:
        # From the workspace itself: cargo reads `.cargo/config.toml` from the working directory up.
        result = subprocess.run(
            command, cwd=workspace, capture_output=True, text=True, encoding="utf-8", timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BridgeFixtureError(f"cannot ask cargo for its target directory ({error}); {hint}") from error
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BridgeFixtureError(f"`cargo metadata` failed for {workspace} ({last}); {hint}")
    metadata: dict[str, Any] = json.loads(result.stdout)
    return Path(metadata["target_directory"])


def fixture_path(profile: str = "debug") -> Path:
    """``$DSPEX_BRIDGE_FIXTURE``, else ``<cargo's target directory>/<profile>/examples/bridge_fixture``."""
    explicit = os.environ.get(FIXTURE_ENV)
    if explicit:
        return Path(explicit)
    return cargo_target_dir() / profile / "examples" / FIXTURE_NAME


class BridgeFixture:
    """A running `bridge_fixture` process and its answers."""

    address: str
    token: str
    session_id: str

    def __init__(self, process: subprocess.Popen[str], timeout: float) -> None:
        self._process = process
        self._timeout = timeout
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        assert process.stdout is not None
        threading.Thread(target=self._pump, args=(process.stdout,), daemon=True).start()
        hello = self._read()
        self.address = hello["address"]
        self.token = hello["token"]
        self.session_id = hello["session_id"]

    @classmethod
    def start(cls, path: str | os.PathLike[str] | None = None, timeout: float = 30.0) -> BridgeFixture:
        """Starts the fixture and waits for its first line."""
        binary = Path(path) if path is not None else fixture_path()
        if not binary.is_file():
            raise BridgeFixtureError(
                f"no bridge fixture at {binary}: build it with `cargo build --example bridge_fixture` "
                f"(or point ${FIXTURE_ENV} at it)"
            )
        process = subprocess.Popen(
            [str(binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        try:
            return cls(process, timeout)
        except BaseException:
            process.kill()
            process.wait()
            raise

    def _pump(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read(self) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=self._timeout)
        except queue.Empty:
            raise BridgeFixtureError(f"the bridge fixture said nothing for {self._timeout} s") from None
        if line is None:
            code = self._process.wait()
            raise BridgeFixtureError(f"the bridge fixture exited (status {code})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def command(self, *words: str) -> dict[str, Any]:
        """Sends one command line, returns the JSON answer."""
        stdin = self._process.stdin
        assert stdin is not None
        with self._lock:
            stdin.write(" ".join(words) + "\n")
            stdin.flush()
            return self._read()

    def new_session(self) -> str:
        """A new, empty bridged session; its id."""
        answer = self.command("new_session")
        if "session_id" not in answer:
            raise BridgeFixtureError(f"new_session failed: {answer}")
        session_id: str = answer["session_id"]
        return session_id

    def rust_get(self, session_id: str, name: str) -> Any:
        """A variable's value as Rust reads it (in-process, not over gRPC)."""
        answer = self.command("get", session_id, name)
        if "error" in answer:
            raise BridgeFixtureError(answer["error"])
        return answer["value"]

    def close(self) -> None:
        """Ends the process (``quit``, then closed stdin, then kill after a grace period)."""
        stdin = self._process.stdin
        if self._process.poll() is None and stdin is not None:
            try:
                stdin.write("quit\n")
                stdin.close()
            except OSError:
                pass
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---- the test LM ------------------------------------------------------------------------------
# `EchoLM` (the offline, deterministic test LM, for tests and demos only), its factories and the
# small tools for ReAct tests live in `dspex_bridge._echo_lm`; they are loaded on first use so that
# the bridge fixture above does not pay for `import dspy`.

if TYPE_CHECKING:  # what `__getattr__` provides, for type checkers
    from ._echo_lm import (
        ECHO_MODEL,
        AsyncEchoEngine,
        EchoEngine,
        EchoLM,
        SlowEchoEngine,
        add_numbers,
        echo_lm,
        settings_tag,
        slow_echo_lm,
        word_count,
    )

_ECHO_LM_EXPORTS: Final = frozenset(
    {
        "ECHO_MODEL",
        "AsyncEchoEngine",
        "EchoEngine",
        "EchoLM",
        "SlowEchoEngine",
        "add_numbers",
        "echo_lm",
        "settings_tag",
        "slow_echo_lm",
        "word_count",
    }
)

__all__ = [
    "ECHO_MODEL",
    "FIXTURE_ENV",
    "REPO_ROOT",
    "AsyncEchoEngine",
    "BridgeFixture",
    "BridgeFixtureError",
    "EchoEngine",
    "EchoLM",
    "SlowEchoEngine",
    "add_numbers",
    "echo_lm",
    "fixture_path",
    "latency_summary",
    "percentile_us",
    "settings_tag",
    "slow_echo_lm",
    "word_count",
]


def __getattr__(name: str) -> Any:
    if name in _ECHO_LM_EXPORTS:
        from . import _echo_lm

        return getattr(_echo_lm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def exact_match(example: Any, prediction: Any, trace: Any = None) -> bool:
    """A Python metric for tests and demos: every labeled field of ``example`` equals the prediction's."""
    return all(getattr(prediction, name, None) == value for name, value in example.labels().items())
