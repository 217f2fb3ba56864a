"""The located YAML reader behind workflow errors: the line of every key and item, duplicates kept."""

from __future__ import annotations

import pytest
import yaml

from engine.core.yamlsource import LocatedDict, LocatedList, iter_duplicates, line_of, load_located

TEXT = """\
name: t
states:
  due: {}
  reminder1:
    letter: relance.docx
transitions:
  - trigger: escalate
    dest: reminder1
  - trigger: payment
"""


def test_every_key_of_every_mapping_has_its_line() -> None:
    root = load_located(TEXT)
    assert isinstance(root, LocatedDict) and root == {
        "name": "t", "states": {"due": {}, "reminder1": {"letter": "relance.docx"}},
        "transitions": [{"trigger": "escalate", "dest": "reminder1"}, {"trigger": "payment"}]}
    assert (root.line, root.lines) == (1, {"name": 1, "states": 2, "transitions": 6})
    assert root["states"].lines == {"due": 3, "reminder1": 4}
    assert line_of(root["states"]["reminder1"], "letter") == 5
    assert line_of(root["transitions"][1], "trigger") == 9


def test_every_list_item_has_its_line() -> None:
    transitions = load_located(TEXT)["transitions"]
    assert isinstance(transitions, LocatedList)
    assert (transitions.line, transitions.lines) == (7, [7, 9])
    assert line_of(transitions, 1) == 9


def test_an_unknown_key_or_index_falls_back_to_the_containers_line() -> None:
    root = load_located(TEXT)
    assert line_of(root["states"], "absent") == 3
    assert line_of(root["transitions"], 5) == 7
    assert line_of(root["transitions"], -1) == 7  # no negative indexing into the lines
    assert line_of({"plain": 1}, "plain") is None  # a dict that did not come from the reader
    assert line_of("text", 0) is None


def test_a_duplicate_key_is_recorded_with_its_line_and_the_last_value_wins() -> None:
    root = load_located("a: 1\nb: 2\na: 3\n")
    assert root == {"a": 3, "b": 2}  # what PyYAML does silently...
    assert root.duplicates == [("a", 3)]  # ...but here the repeat is kept, with its line
    assert root.lines["a"] == 1  # the key's line stays its first occurrence


def test_duplicates_are_found_at_any_depth_with_their_path() -> None:
    root = load_located(
        "states:\n  reminder1: {}\n  reminder1: {}\n"
        "transitions:\n  - trigger: escalate\n    trigger: payment\n"
    )
    assert iter_duplicates(root) == [("states", "reminder1", 3), ("transitions[0]", "trigger", 6)]
    assert iter_duplicates(load_located(TEXT)) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("- a\n- b\n", ["a", "b"]),
    ("just a sentence\n", "just a sentence"),
    ("42\n", 42),
    ("", None),
])
def test_documents_that_are_not_mappings_come_back_as_they_are(text: str, expected: object) -> None:
    """The workflow reader decides what to say about them; the loader neither fails nor invents a mapping."""
    document = load_located(text)
    assert document == expected and not isinstance(document, dict)
    assert iter_duplicates(document) == []


def test_a_non_mapping_document_still_has_lines_for_its_items() -> None:
    document = load_located("\n- a\n- b\n")
    assert isinstance(document, LocatedList) and (document.line, document.lines) == (2, [2, 3])


def test_an_unhashable_key_is_a_yaml_error_with_its_place() -> None:
    with pytest.raises(yaml.YAMLError, match="unhashable key") as caught:
        load_located("ok: 1\n? [a, b]\n: 1\n")
    assert caught.value.problem_mark.line + 1 == 2  # type: ignore[attr-defined]


def test_python_tags_are_refused() -> None:
    """A workflow file is untrusted text: the loader stays a SafeLoader."""
    with pytest.raises(yaml.constructor.ConstructorError):
        load_located("state: !!python/object/apply:os.system ['true']\n")


def test_merge_keys_are_applied() -> None:
    root = load_located("base: &b {kind: reminder, pay_within: 8 days}\nstate:\n  <<: *b\n  letter: r.docx\n")
    assert root["state"] == {"kind": "reminder", "pay_within": "8 days", "letter": "r.docx"}


def test_overriding_a_merged_key_is_not_a_duplicate() -> None:
    root = load_located("base: &b {pay_within: 8 days}\nstate:\n  <<: *b\n  pay_within: 15 days\n")
    assert root["state"] == {"pay_within": "15 days"}
    assert iter_duplicates(root) == []
    assert line_of(root["state"], "pay_within") == 4  # the override, where it is written


def test_a_key_written_twice_beside_a_merge_is_still_a_duplicate() -> None:
    root = load_located("base: &b {kind: reminder}\nstate:\n  <<: *b\n  label: a\n  label: b\n")
    assert iter_duplicates(root) == [("state", "label", 5)]


def test_an_integer_too_long_for_python_is_a_yaml_error_with_its_place() -> None:
    """5,000 digits: Python refuses to convert them (ValueError), which ended validate in a traceback."""
    with pytest.raises(yaml.YAMLError, match="digits") as caught:
        load_located("name: t\nversion: " + "9" * 5_000 + "\n")
    assert caught.value.problem_mark.line + 1 == 2  # type: ignore[attr-defined]
    assert load_located("version: " + "9" * 32 + "\n") == {"version": int("9" * 32)}  # refused later, by range
