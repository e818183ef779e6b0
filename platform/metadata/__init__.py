"""crmkit.metadata: load, validate and resolve metadata packages. No database, no Flask.

    >>> catalog = crmkit.plugins.catalog()
    >>> package, documents = load_package("apps/default_crm.yaml", catalog)
    >>> registry = Registry.build([package], catalog, documents)
"""
from __future__ import annotations

import os
from typing import Iterable, Sequence

from crmkit.metadata.builder import build_package
from crmkit.metadata.catalog import Catalog, FieldKind
from crmkit.metadata.derived_layout import derive_layout, effective_layout
from crmkit.metadata.errors import MetadataError, Problem
from crmkit.metadata.layouts import FormField, FormSection, KanbanLayout, Layout, ListLayout, RelatedList
from crmkit.metadata.model import FieldDef, Label, ObjectDef, Package
from crmkit.metadata.registry import Registry
from crmkit.metadata.schema_check import check_document
from crmkit.metadata.source import SourceDocument, load_package_files

__all__ = [
    "Catalog", "FieldDef", "FieldKind", "FormField", "FormSection", "KanbanLayout", "Label", "Layout", "ListLayout",
    "MetadataError", "ObjectDef", "Package", "Problem", "Registry", "RelatedList", "SourceDocument", "derive_layout",
    "effective_layout", "load_package", "validate_paths",
]


def load_package(path: str | os.PathLike, catalog: Catalog) -> tuple[Package, list[SourceDocument]]:
    """Syntax and shape checks of one package file or folder; semantic checks come with the Registry."""
    documents = load_package_files(path)
    return package_from_documents(documents, catalog), documents


def package_from_documents(documents: Sequence[SourceDocument], catalog: Catalog) -> Package:
    problems: list[Problem] = []
    heads = [doc for doc in documents if isinstance(doc.data, dict) and "package" in doc.data]
    for document in documents:
        if len(documents) > 1 and isinstance(document.data, dict) and "package" not in document.data:
            document = _as_part(document, heads)
        problems.extend(check_document(document, catalog))
    if len(documents) > 1 and len(heads) != 1:
        where = documents[0] if not heads else heads[1]
        problems.append(where.problem((), "a package folder needs exactly one file with 'package:' and 'version:' "
                                          f"(found {len(heads)})."))
    if problems:
        raise MetadataError(problems)
    package = build_package(documents, once_per_file=False)
    if catalog.lenient(package.name):
        return package
    return build_package(documents)


def _as_part(document: SourceDocument, heads: Sequence[SourceDocument]) -> SourceDocument:
    """A folder's other files hold only objects and extends; borrow the head's name to check their shape."""
    from dataclasses import replace

    head = heads[0].data if heads else {"package": "part", "version": "0.0.0"}
    data = {"package": head.get("package"), "version": head.get("version"), **document.data}
    return replace(document, data=data)


def validate_paths(
    paths: Iterable[str | os.PathLike], catalog: Catalog, installed: Sequence[Package] = ()
) -> Registry:
    """Validate package files together (and against installed packages); raises MetadataError with every problem."""
    packages: list[Package] = []
    documents: list[SourceDocument] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            package, docs = load_package(path, catalog)
        except MetadataError as error:
            problems.extend(error.problems)
            continue
        packages.append(package)
        documents.extend(docs)
    if problems:
        raise MetadataError(problems)
    given = {package.name for package in packages}
    merged = [package for package in installed if package.name not in given] + packages
    return Registry.build(merged, catalog, documents)
