"""attack12: a folder package that declares the same object in two files keeps one silently.

docs/metadata.md: a folder package holds one file with `package:`/`version:` and any number of files with
`objects:` and `extends:`. Two files both declaring `objects: {project: ...}` pass `crmkit validate`; the
builder (metadata/builder.py build_package: `objects[object_name] = ...`) keeps whichever file is read
last, and the other definition is lost without a word. Within one file the same key twice is refused
("'name' appears twice in this mapping"); across files it must be refused the same way.
"""
from __future__ import annotations

import pytest

from crmkit.metadata import MetadataError, validate_paths

def folder(tmp_path, files: dict[str, str]):
    root = tmp_path / "pkg"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root

def test_an_object_declared_in_two_files_is_a_metadata_error(tmp_path, catalog):
    root = folder(tmp_path, {
        "package.yaml": 'package: example\nversion: "1.0.0"\n',
        "a.yaml": "objects:\n  project:\n    fields:\n      budget: {type: currency}\n",
        "b.yaml": "objects:\n  project:\n    fields:\n      budget: {type: text}\n      notes: {type: textarea}\n",
    })
    with pytest.raises(MetadataError) as refused:
        validate_paths([root], catalog)
    assert any("project" in problem.format() and ":2:3:" in problem.format() for problem in refused.value.problems)



def test_a_permission_set_declared_in_two_files_is_a_metadata_error(tmp_path, catalog):
    root = folder(tmp_path, {
        "package.yaml": 'package: example\nversion: "1.0.0"\n'
                        "objects:\n  project:\n    fields:\n      name: {type: text}\n"
                        "permission_sets:\n  viewers:\n    objects:\n      project: [read]\n",
        "more.yaml": "permission_sets:\n  viewers:\n    objects:\n      project: [read, edit, delete]\n",
    })
    with pytest.raises(MetadataError):
        validate_paths([root], catalog)


def test_a_role_declared_in_two_files_is_a_metadata_error(tmp_path, catalog):
    root = folder(tmp_path, {
        "package.yaml": 'package: example\nversion: "1.0.0"\nroles:\n  rep: {}\n  boss: {}\n',
        "more.yaml": "roles:\n  rep: {parent: boss}\n",
    })
    with pytest.raises(MetadataError):
        validate_paths([root], catalog)
