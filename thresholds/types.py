"""Shared type aliases (one place, as in httpx's ``_types.py``)."""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ArrayLike: TypeAlias = npt.ArrayLike
Verdict: TypeAlias = Literal["pass", "fail", "insufficient"]
IntArray: TypeAlias = npt.NDArray[np.intp]
