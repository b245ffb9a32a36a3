"""The tmpfs fixture never lets a disk-full test pass by not running: outside CI a non-root
run skips saying why, under CI=true it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.health import rig


def test_not_root_skips_outside_ci_and_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rig.os, "geteuid", lambda: 1000)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="root"), rig.tmpfs(tmp_path / "fs"):
        pass
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="root"), rig.tmpfs(tmp_path / "fs"):
        pass
    assert not (tmp_path / "fs").exists()  # nothing mounted, nothing made
