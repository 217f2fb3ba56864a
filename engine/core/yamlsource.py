"""YAML read with the line of every mapping key, and duplicate keys recorded instead of silently dropped.

PyYAML keeps the last of two equal keys without a word; a workflow with `reminder1:` twice would
lose a state. This loader remembers every key's line so errors can point at it.
"""

from __future__ import annotations

from typing import Any

import yaml


class LocatedDict(dict[Any, Any]):
    """A mapping from YAML: `line` of the mapping, `lines[key]` of each key, `duplicates` seen."""

    line: int = 0
    lines: dict[Any, int]
    duplicates: list[tuple[Any, int]]


class LocatedList(list[Any]):
    """A sequence from YAML: `line` of the sequence, `lines[i]` of each item."""

    line: int = 0
    lines: list[int]


def load_located(text: str) -> Any:
    """Parse YAML text into LocatedDict / LocatedList / scalars; raises yaml.YAMLError on bad syntax."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def line_of(container: Any, key: Any) -> int | None:
    """The line of `key` in a located mapping or of item `key` in a located list, else the container's."""
    if isinstance(container, LocatedDict) and key in container.lines:
        return container.lines[key]
    if isinstance(container, LocatedList) and isinstance(key, int) and 0 <= key < len(container.lines):
        return container.lines[key]
    return getattr(container, "line", None) or None


def iter_duplicates(node: Any, path: str = "") -> list[tuple[str, Any, int]]:
    """Every duplicate key in the tree: (path of the mapping, key, line of the repeated key)."""
    found: list[tuple[str, Any, int]] = []
    if isinstance(node, LocatedDict):
        found += [(path, key, line) for key, line in node.duplicates]
        for key, value in node.items():
            found += iter_duplicates(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, LocatedList):
        for index, value in enumerate(node):
            found += iter_duplicates(value, f"{path}[{index}]")
    return found


class _Loader(yaml.SafeLoader):
    """SafeLoader building located containers."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    mapping = LocatedDict()
    mapping.line, mapping.lines, mapping.duplicates = node.start_mark.line + 1, {}, []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
            ) from None
        line = key_node.start_mark.line + 1
        if key in mapping.lines:
            mapping.duplicates.append((key, line))
        else:
            mapping.lines[key] = line
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    sequence = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    sequence.line = node.start_mark.line + 1
    sequence.lines = [child.start_mark.line + 1 for child in node.value]
    return sequence


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
