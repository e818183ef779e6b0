"""Refresh the browser libraries vendored under platform/ui/static/vendor/ from their npm packages.

    python3 scripts/vendor_static.py            # fetch the pinned versions, check, copy, record
    python3 scripts/vendor_static.py --check    # only check the files on disk against VENDORED.json

Each package is fetched with `npm pack NAME@VERSION` (npm's own client and registry
settings), its tarball's SHA-512 is compared with the integrity pinned below (a mismatch
stops the script before anything is copied), the listed dist files are copied, and
VENDORED.json records name, version, licence, integrity and each file's SHA-256. To move
to a new version, change `version` and `integrity` below (`npm view NAME@VERSION
dist.integrity` prints it), run the script, run the tests, commit the files.

Standard library only; needs `npm` on the PATH for a refresh, nothing for `--check`.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
VENDOR = REPOSITORY / "platform" / "ui" / "static" / "vendor"
RECORD = VENDOR / "VENDORED.json"


@dataclass(frozen=True)
class Library:
    """One npm package: the files copied (path in the package -> path under vendor/) and why it is here."""

    name: str
    version: str
    licence: str
    integrity: str
    files: dict[str, str]
    purpose: str


LIBRARIES = (
    Library("htmx.org", "2.0.11", "0BSD",
            "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
            {"dist/htmx.min.js": "htmx/htmx.min.js", "LICENSE": "htmx/LICENSE"},
            "partial page updates. 2.0 rather than 4: 4 drops hx-headers inheritance, swaps 4xx/5xx "
            "responses into the page, needs unsafe-eval for hx-on and times requests out after 60 s."),
    Library("bootstrap", "5.3.9", "MIT",
            "sha512-20cU0rcfw8WdxtVbmfU+xT2EjvVTw9Ror/h1Qvd7DXCujRg8OO9mdBCsmTHdJFf3BuadmBNJtgIuUXsBqSkk/w==",
            {"dist/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
             "dist/js/bootstrap.bundle.min.js": "bootstrap/bootstrap.bundle.min.js",
             "LICENSE": "bootstrap/LICENSE"},
            "layout and components; works at phone width without a build step."),
    Library("tom-select", "2.6.2", "Apache-2.0",
            "sha512-eiXIkk82XzzUTOVQDFpy+ZGejuqdTvMukyUyeZBQaKnqW42UoTiTZnrod/eX0rkqJEc4rZY9DZ3zdjV07i29wQ==",
            {"dist/js/tom-select.complete.min.js": "tom-select/tom-select.complete.min.js",
             "dist/css/tom-select.bootstrap5.min.css": "tom-select/tom-select.bootstrap5.min.css",
             "LICENSE": "tom-select/LICENSE"},
            "lookup autocomplete over the engine's suggest."),
    Library("sortablejs", "1.15.7", "MIT",
            "sha512-Kk8wLQPlS+yi1ZEf48a4+fzHa4yxjC30M/Sr2AnQu+f/MPwvvX9XjZ6OWejiz8crBsLwSq8GHqaxaET7u6ux0A==",
            {"Sortable.min.js": "sortablejs/Sortable.min.js", "LICENSE": "sortablejs/LICENSE"},
            "kanban drag and drop, touch screens too."),
    Library("echarts", "6.1.0", "Apache-2.0",
            "sha512-q0yaFPggC9FUdsWH4blavRWFmxdrIodbkoKNAjJudAI6CA9gNPxHtV2RcZNEepZVlk4yvBYkOkbk6HIVpIyHZA==",
            {"dist/echarts.min.js": "echarts/echarts.min.js", "LICENSE": "echarts/LICENSE",
             "NOTICE": "echarts/NOTICE"},
            "dashboard charts (loaded by the dashboard and report pages): the full build, which has funnel, "
            "gauge and the Chinese locale built in."),
    Library("axe-core", "4.14.1", "MPL-2.0",
            "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
            {"axe.min.js": "axe-core/axe.min.js", "LICENSE": "axe-core/LICENSE"},
            "accessibility checks in the browser tests only; no page loads it."),
)


class VendorError(Exception):
    """Something a person must look at: a changed tarball, a missing file, npm failing."""


def sri(data: bytes) -> str:
    """The npm/SRI integrity string of `data`: 'sha512-' and the base64 digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(library: Library, folder: Path) -> Path:
    """The package tarball, downloaded by `npm pack` into `folder` and checked against the pinned integrity."""
    spec = f"{library.name}@{library.version}"
    result = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(folder)],
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise VendorError(f"npm pack {spec} failed: {result.stderr.strip()[-500:]}")
    tarball = folder / json.loads(result.stdout)[0]["filename"]
    actual = sri(tarball.read_bytes())
    if actual != library.integrity:
        raise VendorError(f"{spec}: the tarball's integrity is {actual}, not the pinned {library.integrity}; "
                          "nothing was copied.")
    return tarball


def unpack(library: Library, tarball: Path, target: Path) -> dict[str, str]:
    """Copies the library's files from `tarball` under `target`; returns {vendored path: sha256}."""
    copied: dict[str, str] = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for inside, destination in library.files.items():
            try:
                member = archive.getmember(f"package/{inside}")
            except KeyError:
                raise VendorError(f"{library.name}@{library.version} has no file {inside}.") from None
            source = archive.extractfile(member)
            if source is None:
                raise VendorError(f"{library.name}@{library.version}: {inside} is not a regular file.")
            path = target / destination
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(source.read())
            copied[destination] = sha256(path)
    return copied


def record_entry(library: Library, files: dict[str, str]) -> dict[str, object]:
    return {"name": library.name, "version": library.version, "licence": library.licence,
            "integrity": library.integrity, "purpose": library.purpose, "files": files}


def refresh(vendor: Path = VENDOR) -> list[dict[str, object]]:
    """Fetches every library, then replaces vendor/ with their files and VENDORED.json; returns the record."""
    with tempfile.TemporaryDirectory() as scratch:
        staging = Path(scratch) / "vendor"
        entries = []
        for library in LIBRARIES:
            tarball = fetch(library, Path(scratch))
            entries.append(record_entry(library, unpack(library, tarball, staging)))
            print(f"{library.name} {library.version} ({library.licence}): {len(library.files)} files")
        (staging / "VENDORED.json").write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
        if vendor.exists():
            shutil.rmtree(vendor)
        shutil.copytree(staging, vendor)
    return entries


def check(vendor: Path = VENDOR) -> list[str]:
    """Problems with the vendored files (missing, changed, unrecorded, not pinned here); empty when all is well."""
    record_path = vendor / "VENDORED.json"
    if not record_path.exists():
        return [f"{record_path} is missing; run scripts/vendor_static.py"]
    entries = json.loads(record_path.read_text(encoding="utf-8"))
    pinned = {library.name: library for library in LIBRARIES}
    problems, recorded = [], {"VENDORED.json"}
    for entry in entries:
        library = pinned.get(entry["name"])
        if library is None or (library.version, library.integrity) != (entry["version"], entry["integrity"]):
            problems.append(f"{entry['name']} {entry['version']} is not the version pinned in scripts/vendor_static.py")
        for name, digest in entry["files"].items():
            recorded.add(name)
            path = vendor / name
            if not path.is_file():
                problems.append(f"{name} is missing")
            elif sha256(path) != digest:
                problems.append(f"{name} differs from the file vendored from {entry['name']} {entry['version']}")
    for name in sorted(pinned.keys() - {entry["name"] for entry in entries}):
        problems.append(f"{name} is pinned but not vendored")
    extra = sorted(path.relative_to(vendor).as_posix() for path in vendor.rglob("*") if path.is_file())
    problems.extend(f"{name} is not recorded in VENDORED.json" for name in extra if name not in recorded)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="check the files on disk, fetch nothing")
    arguments = parser.parse_args(argv)
    try:
        if not arguments.check:
            refresh()
        problems = check()
    except VendorError as error:
        print(f"vendor_static: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"vendor_static: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
