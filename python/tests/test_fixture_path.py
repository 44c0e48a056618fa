"""Finding the bridge fixture binary: the override, else wherever cargo says it builds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dspex_bridge.testing import FIXTURE_ENV, BridgeFixtureError, cargo_target_dir, fixture_path

needs_cargo = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")


@pytest.fixture
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment where only cargo's own configuration decides the target directory."""
    for name in (FIXTURE_ENV, "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "CARGO"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_override_is_used_as_is_without_asking_cargo(no_overrides: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_overrides.setenv(FIXTURE_ENV, str(tmp_path / "my_fixture"))
    no_overrides.setenv("CARGO", str(tmp_path / "no-such-cargo"))
    assert fixture_path() == tmp_path / "my_fixture"


@needs_cargo
def test_cargo_target_dir_is_honoured(no_overrides: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_overrides.setenv("CARGO_TARGET_DIR", str(tmp_path / "elsewhere"))
    assert fixture_path() == tmp_path / "elsewhere" / "debug" / "examples" / "bridge_fixture"
    assert fixture_path("release") == tmp_path / "elsewhere" / "release" / "examples" / "bridge_fixture"


@needs_cargo
def test_a_target_dir_set_in_cargo_config_is_honoured(no_overrides: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A workspace of its own whose .cargo/config.toml moves the target directory: only cargo
    # knows about it, so this passes only if cargo is asked.
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.rs").write_text("")
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "probe"\nversion = "0.0.0"\nedition = "2021"\n')
    (tmp_path / ".cargo").mkdir()
    (tmp_path / ".cargo" / "config.toml").write_text('[build]\ntarget-dir = "build/out"\n')
    assert cargo_target_dir(tmp_path) == tmp_path / "build" / "out"


def test_a_missing_cargo_says_how_to_do_without(no_overrides: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_overrides.setenv("CARGO", str(tmp_path / "no-such-cargo"))
    with pytest.raises(BridgeFixtureError, match=r"cannot ask cargo .*DSPEX_BRIDGE_FIXTURE"):
        fixture_path()


@needs_cargo
def test_a_directory_without_a_workspace_is_reported(no_overrides: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(BridgeFixtureError, match=r"`cargo metadata` failed for .*DSPEX_BRIDGE_FIXTURE"):
        cargo_target_dir(tmp_path)
