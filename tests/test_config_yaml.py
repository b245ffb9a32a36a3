"""The site file's YAML reader (occmon/config/yamlload.py): libyaml's speed, and the data and
messages of ``yaml.safe_load`` with the pure-Python parser, which the reader used before."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

import pytest
import yaml

from occmon.config import ConfigError, load, read_yaml
from occmon.config.yamlload import LIBYAML, SiteLoader, safe_load

ROOT = Path(__file__).resolve().parents[1]

# documents with what the direct walk leaves to SafeConstructor, and plain ones
DOCUMENTS = [
    "base: &b {host: 127.0.0.1, port: 502}\na: *b\nb: *b\n",  # an alias: one object twice
    "base: &b {x: 1, y: 2}\nd: {<<: *b, y: 3}\n",  # a merge key
    "a: !!set {x, y}\nb: !!binary aGk=\n",  # tags a site file does not use
    "a: 2026-05-12\nb: 2026-05-12 08:30:00\nc: 0x1F\nd: 1_000\ne: .inf\nf: yes\ng: ~\n",
    "a: !!str 1\nb: !!int '7'\nc: !!float '2'\n",  # explicit tags
    "- 1\n- [2, {3: four}]\n- ''\n",
    "= : 1\n",  # a value key
    "",
    "a: 1\na: 2\n",  # a key given twice: the last value, as before
    "a: &n 5\nb: *n\nc: &s text\nd: [*s, *n]\n",  # aliases of scalars: walked as scalars
    "- {x: 1, y: 1.5, z: true, t: 2026-05-12}\n- {x: 1, y: 1.5, z: true, t: 2026-05-12}\n"
    "- {x: '1', y: 01, z: True, t: '2026-05-12'}\n",  # the same texts, tags and styles
    "1: one\n2.5: two\nnull: three\ntrue: four\n",  # keys that are not strings
    # one text quoted, then plain, then quoted again: each keeps its own tag
    "- ['1', 1, '1', \"yes\", yes, 'null', null, '2026-05-12', 2026-05-12, '1.5', 1.5]\n"
    "- {'1': a, 1: b, yes: c, 'yes': d, ~: e, '~': f}\n",
]


def typed(data: object) -> object:
    """``data`` with the type of every value beside it (1 == 1.0 == True for ``==``)."""
    if isinstance(data, dict):
        return {typed(k): typed(v) for k, v in data.items()}
    if isinstance(data, list):
        return [typed(v) for v in data]
    return (type(data).__name__, data)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_data_is_what_safe_load_gives(text: str) -> None:
    expected = yaml.load(text, Loader=yaml.SafeLoader)
    assert typed(safe_load(text)) == typed(expected)


def test_an_alias_stays_one_object() -> None:
    data = safe_load(DOCUMENTS[0])
    assert data["a"] is data["b"] is data["base"]


def test_every_yaml_file_of_the_repository_reads_the_same() -> None:
    files = [p for p in ROOT.rglob("*.y*ml") if ".venv" not in p.parts and "var" not in p.parts]
    assert len(files) > 20
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert typed(safe_load(text)) == typed(yaml.load(text, Loader=yaml.SafeLoader)), file


def test_dates_in_a_site_file_stay_dates() -> None:
    demo = load(ROOT / "examples" / "demo-plant.yaml")
    instrument = demo.sensors[0].instrument
    assert instrument is not None and instrument.calibrated == dt.date(2026, 5, 12)


@pytest.mark.skipif(not LIBYAML, reason="PyYAML without libyaml: the pure parser is used")
def test_libyaml_parses_plain_site_files() -> None:
    assert issubclass(SiteLoader, yaml.CSafeLoader)


# (text, line and column of the problem, words only the pure parser's message has)
BROKEN = [
    ("site:\n\t- id: x\n", "line 2, column 1", "found character '\\t' that cannot start"),
    ("site:\n  id: *nowhere\n", "line 2, column 7", "found undefined alias 'nowhere'"),
    ("site:\n  id: demo\n name: x\n", "line 3, column 2", "expected <block end>, but found"),
    ("site: a: b\n", "line 1, column 8", "mapping values are not allowed here"),
    ("site:\n  id: [unclosed\n", "line 3, column 1", "expected ',' or ']', but got"),
]


@pytest.mark.parametrize(("text", "where", "words"), BROKEN)
def test_a_syntax_error_names_file_line_and_fix(
    tmp_path: Path, text: str, where: str, words: str
) -> None:
    file = tmp_path / "plant.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(file)
    [problem] = caught.value.problems
    assert (problem.file, problem.key, problem.fix) == (file, where, "fix the YAML syntax")
    assert words in problem.message
    # the same problem, word for word, as the pure parser's reader gave it
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.load(text, Loader=yaml.SafeLoader)
    assert problem.message == f"not valid YAML: {pure.value}"
    assert str(problem).startswith(f"{file}: {where}: not valid YAML: ")


def test_an_unsafe_tag_is_refused_with_its_place(tmp_path: Path) -> None:
    file = tmp_path / "plant.yaml"
    file.write_text("site: !!python/object/apply:os.system [echo hi]\n", encoding="utf-8")
    _, problems = read_yaml(file)
    [problem] = problems
    assert problem.key == "line 1, column 7"
    assert "could not determine a constructor" in problem.message


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(tmp_path: Path, enabled: bool) -> None:
    file = tmp_path / "plant.yaml"
    file.write_text("site: [unclosed\n", encoding="utf-8")
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        load(ROOT / "examples" / "demo-plant.yaml")
        assert gc.isenabled() is enabled
        with pytest.raises(ConfigError):
            load(file)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_date_that_does_not_exist_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    """PyYAML raises a bare ValueError for ``2026-13-12``; the site reader names the place."""
    demo = (ROOT / "examples" / "demo-plant.yaml").read_text(encoding="utf-8")
    assert "calibrated: 2026-05-12}" in demo
    file = tmp_path / "plant.yaml"
    file.write_text(demo.replace("calibrated: 2026-05-12}", "calibrated: 2026-13-12}"),
                    encoding="utf-8")
    line = next(i for i, text in enumerate(file.read_text(encoding="utf-8").splitlines(), 1)
                if "2026-13-12" in text)
    column = file.read_text(encoding="utf-8").splitlines()[line - 1].index("2026-13-12") + 1
    with pytest.raises(ConfigError) as caught:
        load(file)
    [problem] = caught.value.problems
    assert problem.key == f"line {line}, column {column}"
    assert "'2026-13-12' is not a real date or time: month must be in 1..12" in problem.message
    assert "YYYY-MM-DD" in problem.fix
    # what a quoted value reads as, and a real date next to it, are unchanged
    assert safe_load("a: '2026-13-12'\nb: 2026-02-28\n") == {
        "a": "2026-13-12", "b": dt.date(2026, 2, 28)}
