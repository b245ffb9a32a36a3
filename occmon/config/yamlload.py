"""Parse a site file's YAML fast, with exactly the data and the messages of ``yaml.safe_load``.

A 5,000-point site file (1.9 MB, about 250,000 YAML nodes) took 7 s or more to load with
``yaml.safe_load`` (the pure-Python parser), and the reader is what every process of the
system starts with. Four changes bring it to well under a second; none changes a result:

- libyaml's parser (``yaml.CSafeLoader``) when PyYAML was built with it. It feeds the same
  ``SafeConstructor`` (plain types only, never arbitrary objects) and, like the pure parser,
  keeps the last value of a key given twice. Its messages are terser (no source line and
  caret; "found character that cannot start any token" without the character), so a text it
  refuses is parsed again by the pure parser, whose message and ``problem_mark`` (line and
  column) the problem then carries, as before. Should the pure parser accept it, its data is
  used: no file that loaded before fails now.
- No cyclic garbage collection while parsing (``gcpause.py``): two thirds of libyaml's time
  went to collections walking the nodes already built.
- The document is built by one direct walk over the nodes when they hold only the plain
  types a site file uses (mappings, sequences, strings, numbers, booleans, nulls, dates). A
  document with anything else (an alias of a mapping or sequence, merge keys, other tags,
  a key that is not hashable) or any error in that walk is built by ``SafeConstructor``
  itself, which gives its own data or its own error. (An alias of a scalar is walked like
  the scalar: the same immutable value, as ``SafeConstructor`` gives.) The walk takes string
  scalars inline and builds each other scalar once per distinct text: under half the time.

One thing differs, on purpose: a date that does not exist (``calibrated: 2026-13-12``)
was a ValueError out of PyYAML, a traceback instead of a problem; it is now a
``BadTimestamp`` error at the value's line and column.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from occmon.config.gcpause import collector_paused

try:
    from yaml import CSafeLoader as _Parser
except ImportError:  # PyYAML built without libyaml: the pure parser, still walked fast
    _Parser = yaml.SafeLoader  # type: ignore[misc, assignment]

LIBYAML: bool = getattr(yaml, "__with_libyaml__", False)  # _Parser is CSafeLoader

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ = _TAG + "str", _TAG + "map", _TAG + "seq"
# scalar constructors of SafeConstructor that are plain functions of the node
_SCALARS = frozenset(_TAG + name for name in ("int", "float", "bool", "null", "timestamp"))
# keys flatten_mapping rewrites: the walk leaves such mappings to SafeConstructor
_SPECIAL_KEYS = frozenset((_TAG + "merge", _TAG + "value"))


class BadTimestamp(ConstructorError):
    """A plain scalar shaped like a date or time that is none (month 13, 30 February)."""


def _timestamp(loader: Any, node: ScalarNode) -> Any:  # a SiteLoader or _PureLoader
    try:
        return SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise BadTimestamp(None, None, f"{node.value!r} is not a real date or time: {exc}",
                           node.start_mark) from None


_ignore_two: Callable[[Any, Any], object] = operator.is_  # (parent, index); result unread
_ignore_none: Callable[[], object] = tuple  # called with nothing; result unread


class _NotPlain(Exception):
    """The node tree holds something the direct walk leaves to ``SafeConstructor``."""


class SiteLoader(_Parser):
    """``CSafeLoader`` (else ``SafeLoader``) whose documents of plain types are built by a
    direct walk; anything else is built by ``SafeConstructor`` as before."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._plain_tags: dict[str, str] = {}
        if not self.yaml_path_resolvers:
            # libyaml's composer calls descend_resolver(parent, index) and ascend_resolver()
            # around every node, and without path resolvers both do nothing. C builtins that
            # take the same arguments and do nothing either cost a fraction of a Python
            # method call: 6 % of `occmon config check` at 5,000 points (callgrind).
            self.descend_resolver = _ignore_two  # type: ignore[method-assign, assignment]
            self.ascend_resolver = _ignore_none  # type: ignore[method-assign, assignment]

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> Any:
        """The tag of a node, as the resolver gives it, remembered for each distinct plain
        scalar text: without path resolvers (SafeLoader has none) a plain scalar's tag is a
        function of its text alone, and the same keys, ids and units come thousands of
        times in a large site file (a third of the parse went to matching them again)."""
        if kind is not ScalarNode or not implicit[0] or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        try:
            return self._plain_tags[value]
        except KeyError:
            tag = self._plain_tags[value] = super().resolve(  # type: ignore[no-untyped-call]
                kind, value, implicit)
            return tag

    def construct_document(self, node: Node) -> Any:
        try:
            return _plain(node, self, set(), {})
        except Exception:  # _NotPlain, or an error SafeConstructor words its own way
            pass
        return super().construct_document(node)


class _PureLoader(yaml.SafeLoader):
    """The pure parser, for its messages, with the same timestamps as ``SiteLoader``."""


for _loader in (SiteLoader, _PureLoader):
    _loader.add_constructor(_TAG + "timestamp", _timestamp)


def _plain(node: Node, loader: SiteLoader, seen: set[int],
           scalars: dict[tuple[str, str], Any]) -> Any:
    """What ``SafeConstructor`` builds from ``node``, for trees of plain types only.

    String scalars (most of a site file: keys and ids) are taken inline, without a call;
    other scalars are built once per distinct (tag, text) of the document (ints, floats,
    booleans, nulls and dates are immutable: sharing one is what an alias does too)."""
    kind = type(node)
    if kind is ScalarNode:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag in _SCALARS:
            key = (tag, node.value)
            try:
                return scalars[key]
            except KeyError:
                value = scalars[key] = loader.yaml_constructors[tag](loader, node)
                return value
        raise _NotPlain
    if id(node) in seen:  # an alias of a collection: SafeConstructor's business
        raise _NotPlain
    seen.add(id(node))
    if kind is MappingNode and node.tag == _MAP:
        out = {}
        for key_node, value_node in node.value:
            if type(key_node) is ScalarNode and key_node.tag == _STR:
                key = key_node.value
            elif key_node.tag in _SPECIAL_KEYS:
                raise _NotPlain
            else:
                key = _plain(key_node, loader, seen, scalars)
            if type(value_node) is ScalarNode and value_node.tag == _STR:
                out[key] = value_node.value
            else:
                out[key] = _plain(value_node, loader, seen, scalars)  # unhashable key: TypeError
        return out
    if kind is SequenceNode and node.tag == _SEQ:
        return [_plain(child, loader, seen, scalars) for child in node.value]
    raise _NotPlain


def safe_load(text: str) -> Any:
    """The document in ``text`` as plain Python data, as ``yaml.safe_load`` gives it; raises
    ``yaml.YAMLError`` with the pure parser's message and ``problem_mark`` (0-based)."""
    with collector_paused():
        try:
            return yaml.load(text, Loader=SiteLoader)
        except yaml.YAMLError:
            if not LIBYAML:
                raise
        return yaml.load(text, Loader=_PureLoader)  # for its exact message
