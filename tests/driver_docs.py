"""Each driver folder's README shows its commented sample config verbatim (STYLE.md 1)."""

from __future__ import annotations

from pathlib import Path


def assert_readme_embeds_sample(folder: Path) -> None:
    sample = (folder / "sample.yaml").read_text(encoding="utf-8").rstrip()
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert f"```yaml\n{sample}\n```" in readme, f"{folder / 'README.md'} lacks its sample"
