"""A standard CRM with users and records for the web application's tests (tests/ui, tests/browser).

Users (password PASSWORD): admin (permission set admin), wang and li (sales reps, who see
only their own accounts), plus spare reps for tests that change a user. Records: one
account of each rep, and an object and a record whose label and name are XSS payloads.
"""
from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "correct horse battery staple"
#: The package with a field of every field type (tests/ui/test_every_field_type.py, tests/browser/test_every_field_type.py).
EVERY_FIELD_TYPE = Path(__file__).resolve().parent / "packages" / "every_field_type.yaml"
SCRIPT_PAYLOAD = "<script>alert('xss')</script>"
IMAGE_PAYLOAD = '"><img src=x onerror=alert(1)>'

PROBE_PACKAGE = json.dumps({
    "package": "probe", "version": "1.0.0", "depends_on": ["default_crm"],
    "label": {"en": f"Probe {IMAGE_PAYLOAD}", "zh": f"探针 {IMAGE_PAYLOAD}"},
    "permission_sets": {"probe_user": {"roles": ["sales_rep"], "objects": {"probe": ["create", "read", "edit"]},
                                       "fields": {"probe.note": ["read"]}}},
    "objects": {"probe": {
        "label": {"en": f"Probe {SCRIPT_PAYLOAD}", "zh": f"探针 {SCRIPT_PAYLOAD}"},
        "plural_label": {"en": f"Probes {SCRIPT_PAYLOAD}", "zh": f"探针们 {SCRIPT_PAYLOAD}"},
        "title_field": "name",
        "fields": {
            "name": {"type": "text", "required": True, "searchable": True},
            # Readable but not editable by reps (the probe_user set grants read only).
            "note": {"type": "text", "label": {"en": "Note", "zh": "备注"}},
            "kind": {"type": "picklist", "label": {"en": f"Kind {SCRIPT_PAYLOAD}", "zh": f"种类 {SCRIPT_PAYLOAD}"},
                     "options": [{"value": "a", "label": {"en": f"Option {IMAGE_PAYLOAD}", "zh": f"选项 {IMAGE_PAYLOAD}"}}]},
            "details": {"type": "textarea", "help": {"en": f"Help {SCRIPT_PAYLOAD}", "zh": f"帮助 {SCRIPT_PAYLOAD}"}},
        }}},
}, ensure_ascii=False)


@dataclass(frozen=True)
class WebCrm:
    url: str
    users: dict[str, int]


#: spare_users -> (a database `_install_web_crm` made, its users): built once per test process.
_BUILT: dict[int, tuple[Path, dict[str, int]]] = {}


def build_web_crm(folder: Path, spare_users: int = 8) -> WebCrm:
    """The standard CRM and the probe package in `folder`/crm.db, with users and records.

    Installing takes seconds; the first call of a process with this `spare_users` installs
    into a folder of its own (removed at exit) and every call copies that file, so each
    caller still gets a database of its own.
    """
    built = _BUILT.get(spare_users)
    if built is None:
        made = Path(tempfile.mkdtemp(prefix="crmkit-web-"))
        atexit.register(shutil.rmtree, made, True)
        built = _BUILT[spare_users] = (made / "crm.db", _install_web_crm(made, spare_users).users)
        assert not (made / "crm.db-wal").exists(), "closed, the database is one file to copy"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(built[0], folder / "crm.db")  # its mode too (0600, database.py)
    (folder / "probe.json").write_text(PROBE_PACKAGE, encoding="utf-8")
    return WebCrm(f"sqlite:///{folder / 'crm.db'}", dict(built[1]))


def _install_web_crm(folder: Path, spare_users: int) -> WebCrm:
    """Installs the standard CRM and the probe package in `folder`/crm.db, with users and records."""
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory

    url = f"sqlite:///{folder / 'crm.db'}"
    crm = Crm.open(url)
    try:
        crm.install("default_crm")
        probe = folder / "probe.json"
        probe.write_text(PROBE_PACKAGE, encoding="utf-8")
        crm.install(probe)
        directory = SystemDirectory(crm)
        users = {"admin": directory.create_user("admin", display_name="Administrator", password=PASSWORD,
                                                permission_sets=["admin"]).id}
        for name, display in [("wang", "王伟"), ("li", "李娜")] + [(f"rep{n}", f"Rep {n}") for n in range(spare_users)]:
            users[name] = directory.create_user(name, display_name=display, password=PASSWORD, role="sales_rep").id
        wang, li = crm.as_user(users["wang"]), crm.as_user(users["li"])
        wang.records("account").create({"name": "Wang Visible Traders"})
        wang.records("account").create({"name": f"Wang {SCRIPT_PAYLOAD}"})
        li.records("account").create({"name": "Li Hidden Traders"})
        wang.records("probe").create({"name": f"Probe record {IMAGE_PAYLOAD}", "kind": "a",
                                      "details": f"Line one {SCRIPT_PAYLOAD}\nLine two {IMAGE_PAYLOAD}"})
    finally:
        crm.close()
    return WebCrm(url, users)


def build_every_field_type_crm(folder: Path, package: Path = EVERY_FIELD_TYPE) -> WebCrm:
    """The CRM of `build_web_crm` (no spare users) with `package` (the every-field-type package) installed."""
    from crmkit.engine import Crm

    web = build_web_crm(folder, spare_users=0)
    crm = Crm.open(web.url)
    try:
        crm.install(package)
    finally:
        crm.close()
    return web


def record_page_users(url: str, names: tuple[str, ...], prefix: str = "rec_", role: str = "sales_rep",
                      language: str = "en") -> dict[str, int]:
    """Users of one test module's own (`<prefix><name>`, sales reps unless `role` says otherwise), made
    once per database: no other test signs them in or changes their language or password.
    Returns {username: user id}."""
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory

    crm = Crm.open(url)
    try:
        directory = SystemDirectory(crm)
        users = {}
        for name in names:
            username = f"{prefix}{name}"
            user = directory.by_username(username) or directory.create_user(
                username, display_name=f"{prefix.strip('_').title()} {name}", password=PASSWORD, role=role,
                language=language)
            users[username] = user.id
        return users
    finally:
        crm.close()
