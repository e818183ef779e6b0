"""The shape check remembers documents it found valid, and never remembers a problem."""
from __future__ import annotations

import pytest

from crmkit.metadata import MetadataError, load_package_files, validate_paths
from crmkit.metadata import schema_check
from crmkit.metadata.schema_check import check_document

VALID = 'package: example\nversion: "1.0.0"\nobjects:\n  project:\n    fields:\n      name: {type: text}\n'


@pytest.fixture
def walks(monkeypatch) -> list[int]:
    """How many times the JSON Schema validator walked a document (one entry per walk)."""
    counted: list[int] = []
    real = schema_check._validator_for

    def counting(schema_text: str):
        counted.append(1)
        return real(schema_text)

    monkeypatch.setattr(schema_check, "_validator_for", counting)
    monkeypatch.setattr(schema_check, "_valid", {})
    return counted


def test_a_valid_document_checked_again_is_not_walked_again(write_package, catalog, walks):
    (document,) = load_package_files(write_package(VALID))
    assert check_document(document, catalog) == []
    assert check_document(document, catalog) == []
    (same_text_elsewhere,) = load_package_files(write_package(VALID, "copy.yaml"))
    assert check_document(same_text_elsewhere, catalog) == []
    assert len(walks) == 1


def test_a_document_with_problems_is_explained_every_time_with_its_own_positions(write_package, catalog, walks):
    broken = VALID.replace("type: text", "type: text, lenght: 5")
    for name, padding in (("one.yaml", ""), ("two.yaml", "# two lines\n# above\n")):
        with pytest.raises(MetadataError) as caught:
            validate_paths([write_package(padding + broken, name)], catalog)
        (problem,) = caught.value.problems
        assert problem.file.endswith(name)
        assert problem.line == 6 + padding.count("\n")
        assert "unknown key 'lenght'" in problem.message
    assert len(walks) == 2


def test_a_change_of_one_value_is_checked_afresh(write_package, catalog, walks):
    (first,) = load_package_files(write_package(VALID))
    (changed,) = load_package_files(write_package(VALID.replace("type: text", "type: 5"), "changed.yaml"))
    assert check_document(first, catalog) == []
    assert check_document(changed, catalog) != []
    assert len(walks) == 2


def test_the_memory_of_valid_documents_is_bounded(write_package, catalog, walks, monkeypatch):
    monkeypatch.setattr(schema_check, "KEPT_VALID_DOCUMENTS", 3)
    for number in range(5):
        (document,) = load_package_files(write_package(VALID.replace("example", f"example{number}"), f"p{number}.yaml"))
        assert check_document(document, catalog) == []
    assert len(schema_check._valid) == 3
