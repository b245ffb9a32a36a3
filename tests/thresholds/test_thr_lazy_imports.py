"""``thresholds`` imports its numpy-backed metrics on first use, and still has every name.

Agent look-ups, set-points and unit conversions are what the site-config checks and the
gateway need; importing the metrics with them loaded numpy (0.2 s of CPU) into every
``occmon config check``. The lazy names must be the same objects the modules define."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import thresholds

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_package_and_its_lookups_loads_no_numpy() -> None:
    program = ("import json, sys, thresholds\n"
               "agent = thresholds.lookup('h2s')\n"
               "thresholds.setpoints(agent)\n"
               "value = thresholds.to_canonical(1.0, 'ppm', agent)\n"
               "from thresholds.types import Verdict\n"
               "import thresholds.personal_dose\n"
               "print(json.dumps({'numpy': 'numpy' in sys.modules, 'value': value}))\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["numpy"] is False
    # 1 ppm of H2S (34.08 g/mol) at 20 C / 101.3 kPa (24.04 L/mol) is 34.08 / 24.04 mg/m3
    assert report["value"] == pytest.approx(34.08 / 24.04, rel=1e-3)


@pytest.mark.parametrize("name", thresholds.__all__)
def test_every_public_name_is_the_one_its_module_defines(name: str) -> None:
    value = getattr(thresholds, name)
    owner = getattr(value, "__module__", None)
    if isinstance(owner, str) and owner.startswith("thresholds."):
        module = sys.modules[owner]
        assert getattr(module, name, value) is value


def test_submodules_and_the_names_that_share_their_name() -> None:
    assert isinstance(thresholds.noise, types.ModuleType)  # a submodule, imported on use
    assert thresholds.noise.laeq is thresholds.laeq
    # ``catalogue`` and ``setpoints`` are functions, as they always were, not the modules
    assert callable(thresholds.catalogue) and not isinstance(thresholds.catalogue,
                                                             types.ModuleType)
    assert callable(thresholds.setpoints) and not isinstance(thresholds.setpoints,
                                                             types.ModuleType)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        _ = thresholds.not_a_name
    with pytest.raises(AttributeError):
        _ = thresholds.__wrapped__


def test_the_array_aliases_are_numpy_types() -> None:
    import numpy as np

    from thresholds.types import FloatArray, IntArray

    assert np.zeros(2).dtype == FloatArray.__args__[1].__args__[0]
    assert IntArray.__args__[1].__args__[0] is np.dtype(np.intp).type
