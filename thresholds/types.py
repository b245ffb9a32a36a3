"""Shared type aliases (one place, as in httpx's ``_types.py``).

The array aliases need numpy; they are made on first use so that importing ``Verdict``
(the dose file, the site config's dose rules) does not load numpy (0.2 s of CPU).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

Verdict: TypeAlias = Literal["pass", "fail", "insufficient"]

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray: TypeAlias = npt.NDArray[np.float64]
    BoolArray: TypeAlias = npt.NDArray[np.bool_]
    ArrayLike: TypeAlias = npt.ArrayLike
    IntArray: TypeAlias = npt.NDArray[np.intp]


_ARRAY_ALIASES = frozenset(("FloatArray", "BoolArray", "ArrayLike", "IntArray"))


def __getattr__(name: str) -> Any:
    """``FloatArray``, ``BoolArray``, ``ArrayLike``, ``IntArray``: numpy imported here
    (any other name, ``__path__`` asked by every ``from ... import``, is no attribute)."""
    if name not in _ARRAY_ALIASES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import numpy as np
    import numpy.typing as npt

    aliases: dict[str, Any] = {
        "FloatArray": npt.NDArray[np.float64], "BoolArray": npt.NDArray[np.bool_],
        "ArrayLike": npt.ArrayLike, "IntArray": npt.NDArray[np.intp],
    }
    globals().update(aliases)
    return aliases[name]
