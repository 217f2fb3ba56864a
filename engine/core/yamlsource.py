"""YAML read with the line of every mapping key, and duplicate keys recorded instead of silently dropped.

PyYAML keeps the last of two equal keys without a word; a workflow with `reminder1:` twice would
lose a state. This loader remembers every key's line so errors can point at it.

It also bounds what a small file can cost (engine.core.limits): the text's size, the nesting depth
(PyYAML composes recursively), and the number of values once aliases are expanded, counted while
the file is composed, so a 400-byte "billion laughs" is refused at its first costly alias, in
milliseconds, instead of being walked a billion times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.core.files import FileTooLarge, NotRegularFile, read_regular_file
from engine.core.limits import DEFAULT_LIMITS, Limits


class YamlFileError(yaml.YAMLError):
    """A file that is no YAML text to read: `line` of the trouble (or None), `problem` what it is."""

    def __init__(self, line: int | None, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(problem)


class YamlLimitError(YamlFileError):
    """A YAML file beyond a limit: `line` where it was crossed (or None), `problem` what and which limit."""


class LocatedDict(dict[Any, Any]):
    """A mapping from YAML: `line` of the mapping, `lines[key]` of each key, `duplicates` seen."""

    line: int = 0
    lines: dict[Any, int]
    duplicates: list[tuple[Any, int]]


class LocatedList(list[Any]):
    """A sequence from YAML: `line` of the sequence, `lines[i]` of each item."""

    line: int = 0
    lines: list[int]


def read_yaml_file(path: Path, limits: Limits | None = None) -> str:
    """The UTF-8 text of the file at `path`: a regular file, of at most `limits.yaml_bytes` bytes.

    Raises OSError when it cannot be opened, YamlFileError when it is not a regular file or not
    UTF-8 (with the line of the first bad byte), YamlLimitError when it is too big. A FIFO would
    block the read for ever and /dev/zero never end it, so the kind of file is asked of the open
    descriptor (not of the name, which may change between a check and the open) before any byte is
    read, and no more than the limit plus one byte is ever read, whatever the size claims.
    """
    limits = limits or DEFAULT_LIMITS
    try:
        data = read_regular_file(path, limits.yaml_bytes)
    except NotRegularFile as exc:
        raise YamlFileError(None, f"{exc.strerror}: a workflow is a YAML text file") from None
    except FileTooLarge as exc:
        # Refused before reading when the size says so: a workflow is a few kilobytes, this may be anything.
        raise YamlLimitError(None, f"{exc.more_than('a workflow needs')} ({limits.describe('yaml_bytes')})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlFileError(line, f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be read "
                                  "(save the file as UTF-8)") from None


def load_located(text: str, limits: Limits | None = None) -> Any:
    """Parse YAML text into LocatedDict / LocatedList / scalars; raises yaml.YAMLError on bad syntax
    and YamlLimitError (a YAMLError) on a text beyond `limits`."""
    limits = limits or DEFAULT_LIMITS
    if len(text) > limits.yaml_bytes:
        raise YamlLimitError(None, f"the file holds {len(text):,} characters, more than a workflow needs "
                                   f"({limits.describe('yaml_bytes')})")
    loader = _Loader(text, limits)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def line_of(container: Any, key: Any) -> int | None:
    """The line of `key` in a located mapping or of item `key` in a located list, else the container's."""
    if isinstance(container, LocatedDict) and key in container.lines:
        return container.lines[key]
    if isinstance(container, LocatedList) and isinstance(key, int) and 0 <= key < len(container.lines):
        return container.lines[key]
    return getattr(container, "line", None) or None


def iter_duplicates(node: Any, path: str = "", seen: set[int] | None = None) -> list[tuple[str, Any, int]]:
    """Every duplicate key in the tree: (path of the mapping, key, line of the repeated key).

    A container an alias shares is visited once: its duplicates are one mistake in the file.
    """
    seen = set() if seen is None else seen
    if id(node) in seen:
        return []
    found: list[tuple[str, Any, int]] = []
    if isinstance(node, LocatedDict):
        seen.add(id(node))
        found += [(path, key, line) for key, line in node.duplicates]
        for key, value in node.items():
            found += iter_duplicates(value, f"{path}.{key}" if path else str(key), seen)
    elif isinstance(node, LocatedList):
        seen.add(id(node))
        for index, value in enumerate(node):
            found += iter_duplicates(value, f"{path}[{index}]", seen)
    return found


class _Loader(yaml.SafeLoader):
    """SafeLoader building located containers, counting depth and expanded values as it composes."""

    def __init__(self, text: str, limits: Limits) -> None:
        super().__init__(text)
        self.limits = limits
        self.depth = 0
        self.expanded = 0  # values composed so far, an alias counting every value it stands for
        self.sizes: dict[int, int] = {}  # id(node) -> values it stands for, for the aliases to it

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            # An alias to a container still open (recursive) counts 1: the constructor refuses it.
            self._count(self.sizes.get(id(node), 1), mark, "aliases expand the file to", "; an alias bomb?")
            return node
        self.depth += 1
        if self.depth > self.limits.yaml_depth:
            raise YamlLimitError(mark.line + 1, f"mappings and lists nest more than {self.limits.yaml_depth} deep "
                                                f"({self.limits.describe('yaml_depth')})")
        before = self.expanded
        self._count(1, mark, "the file holds", ", far more than a workflow needs")
        node = super().compose_node(parent, index)
        self.depth -= 1
        self.sizes[id(node)] = self.expanded - before
        return node

    def _count(self, values: int, mark: Any, what: str, why: str) -> None:
        self.expanded += values
        if self.expanded > self.limits.yaml_nodes:
            raise YamlLimitError(mark.line + 1, f"{what} more than {self.limits.yaml_nodes:,} values{why} "
                                                f"({self.limits.describe('yaml_nodes')})")


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    # flatten_mapping puts the pairs merged by `<<: *anchor` first: a key written here overrides
    # them (that is what a merge is for), only a key written twice here is a duplicate.
    written = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
    loader.flatten_mapping(node)
    merged = len(node.value) - written
    mapping = LocatedDict()
    mapping.line, mapping.lines, mapping.duplicates = node.start_mark.line + 1, {}, []
    seen_here: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
            ) from None
        line = key_node.start_mark.line + 1
        if index < merged:
            mapping.lines.setdefault(key, line)
        elif key in seen_here:
            mapping.duplicates.append((key, line))
        else:
            seen_here.add(key)
            mapping.lines[key] = line  # an override is located where it is written
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    sequence = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    sequence.line = node.start_mark.line + 1
    sequence.lines = [child.start_mark.line + 1 for child in node.value]
    return sequence


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    # Python refuses to convert more than 4,300 digits (ValueError, not a YAML error); a workflow's
    # numbers are versions and days, so a hundred digits already say the file is wrong.
    digits = sum(c.isdigit() for c in str(node.value))
    if digits > _INT_DIGITS:
        raise yaml.constructor.ConstructorError(None, None, f"a number of {digits:,} digits, more than a workflow "
                                                f"needs (at most {_INT_DIGITS})", node.start_mark)
    value: int = loader.construct_yaml_int(node)
    return value


_INT_DIGITS = 100
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
