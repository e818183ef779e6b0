"""Plugins extend every layer through hooks; built-in behaviour uses the same hooks."""
from __future__ import annotations

import re
import types
from decimal import Decimal
from pathlib import Path

import pytest
from marshmallow import validate
from sqlalchemy import Integer

from crmkit import hookspecs
from crmkit.engine import Crm
from crmkit.engine.extensions import Extensions
from crmkit.engine.fieldtypes import FieldType
from crmkit.engine.fieldtypes.builtin import BUILTIN_TYPES
from crmkit.engine.fieldtypes.inputs import WholeNumber
from crmkit.engine.messages import Message
from crmkit.hookspecs import hookimpl
from crmkit.metadata.catalog import FieldKind
from crmkit.plugins import PluginError, make_plugin_manager

STARS = FieldType(
    FieldKind("stars", "integer", options=frozenset({"out_of"}),
              option_schemas={"out_of": {"type": "integer", "minimum": 1}}, description="A 1-to-N star rating."),
    column=lambda fdef, lookup, registry: Integer(),
    input_field=lambda fdef: WholeNumber(validate=validate.Range(min=1, max=fdef.extra.get("out_of", 5))),
    widget="stars",
)
TOO_MANY_STARS = Message("At most {count} stars.", "最多 {count} 颗星。")


class SalesPlugin:
    """A plugin implementing every hook, as a plugin developer would."""

    def __init__(self, package_dir: Path) -> None:
        self.package_dir = package_dir
        self.saved: list[tuple[str, str]] = []

    @hookimpl
    def crmkit_field_types(self):
        return [STARS]

    @hookimpl
    def crmkit_sandbox_functions(self):
        return {"with_vat": lambda amount: (amount or 0) * Decimal("1.13")}

    @hookimpl
    def crmkit_metadata_packages(self):
        return [self.package_dir / "reviews.yaml"]

    @hookimpl
    def crmkit_messages(self):
        return [TOO_MANY_STARS]

    @hookimpl
    def crmkit_before_save(self, context, draft):
        if draft.object == "review" and draft["price"] is None:
            draft.set("price", "10")  # coerced like input; the formula is computed again

    @hookimpl
    def crmkit_after_save(self, context, event):
        self.saved.append((event.object, event.operation.value))


@pytest.fixture
def plugin(tmp_path) -> SalesPlugin:
    (tmp_path / "reviews.yaml").write_text(
        'package: reviews\nversion: "1.0.0"\nobjects:\n  review:\n    fields:\n'
        "      score: {type: stars, out_of: 10}\n"
        "      price: {type: currency}\n"
        '      gross: {type: formula, returns: currency, formula: "with_vat(price)"}\n',
        encoding="utf-8",
    )
    return SalesPlugin(tmp_path)


@pytest.fixture
def plugin_crm(plugin, database_url):
    extensions = Extensions.from_plugins(make_plugin_manager(load_entry_points=False, plugin_dirs=[],
                                                            extra_plugins=[plugin]))
    crm = Crm.open(database_url, extensions=extensions)
    crm.install(*extensions.package_paths())
    yield crm
    crm.close()


def test_builtin_field_types_are_registered_through_the_hook():
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[])
    names = {field_type.name for result in manager.hook.crmkit_field_types() for field_type in result}
    assert names == {field_type.name for field_type in BUILTIN_TYPES}


def test_a_plugins_messages_are_translated_like_the_engines(plugin_crm):
    from crmkit.engine.messages import translated

    assert TOO_MANY_STARS in plugin_crm.extensions.messages
    assert translated("At most 5 stars.", "zh-CN", plugin_crm.extensions.messages) == "最多 5 颗星。"


def test_builtin_sandbox_functions_are_registered_through_the_hook():
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[])
    functions = {name for result in manager.hook.crmkit_sandbox_functions() for name in result}
    assert {"today", "days_between", "is_blank"} <= functions


def test_a_plugin_field_type_function_package_and_event_work_end_to_end(plugin, plugin_crm):
    reviews = plugin_crm.as_system().records("review")
    review = reviews.create({"score": 9, "price": 100})
    assert review["gross"] == Decimal("113.00")
    assert plugin.saved == [("review", "create")]
    assert reviews.create({"score": 5})["gross"] == Decimal("11.30")
    from crmkit.engine import RecordValidationError

    with pytest.raises(RecordValidationError) as caught:
        reviews.create({"score": 11})
    assert list(caught.value.errors) == ["score"]


def test_crmkit_metadata_packages_lists_the_plugins_packages(plugin):
    extensions = Extensions.from_plugins(make_plugin_manager(load_entry_points=False, plugin_dirs=[],
                                                            extra_plugins=[plugin]))
    assert extensions.package_paths() == [plugin.package_dir / "reviews.yaml"]


def test_a_misspelled_hook_fails_loudly():
    broken = types.ModuleType("broken_plugin")

    @hookimpl
    def crmkit_field_type():  # missing the final "s"
        return []

    broken.crmkit_field_type = crmkit_field_type
    with pytest.raises(PluginError, match="crmkit_field_type"):
        make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[broken])


def test_a_plugin_still_implementing_the_old_record_hook_is_told_its_new_name():
    old = types.ModuleType("old_plugin")

    @hookimpl
    def crmkit_record_saved(context, obj, record, previous, operation):
        pass

    old.crmkit_record_saved = crmkit_record_saved
    with pytest.raises(PluginError, match="replaced by crmkit_after_save"):
        make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[old])


def test_plugins_are_found_in_a_plugins_folder(tmp_path):
    (tmp_path / "greetings.py").write_text(
        "from crmkit.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef crmkit_sandbox_functions():\n    return {'greet': lambda name: 'hello ' + name}\n",
        encoding="utf-8",
    )
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[tmp_path])
    functions = Extensions.from_plugins(manager).functions
    assert functions["greet"]("Li") == "hello Li"


def test_a_broken_folder_plugin_names_its_file(tmp_path):
    (tmp_path / "broken.py").write_text("import nonexistent_module_for_crmkit\n", encoding="utf-8")
    with pytest.raises(PluginError, match="broken.py failed to load"):
        make_plugin_manager(load_entry_points=False, plugin_dirs=[tmp_path])


#: The modules that implement each hook in a plugin of their own and exercise it where crmkit calls it.
HOOK_TEST_MODULES = (Path(__file__), Path(__file__).parent / "plugins" / "test_hook_surface.py")
PLUGIN_DOCUMENTATION = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("crmkit_"))


def test_every_hook_has_a_test():
    """Datasette's rule: a hook without a test is a hook that silently breaks."""
    source = "".join(path.read_text(encoding="utf-8") for path in HOOK_TEST_MODULES)
    untested = [name for name in HOOKS if f"def {name}(" not in source]
    assert untested == []


def test_every_hook_is_documented_with_its_signature_and_an_example():
    """docs/plugins.md has a `### name(arguments)` section per hook whose example implements it."""
    text = PLUGIN_DOCUMENTATION.read_text(encoding="utf-8")
    sections = dict(re.findall(r"^### (crmkit_\w+)\(.*?\)\n(.*?)(?=^#{2,3} )", text + "\n## ", re.S | re.M))
    assert sorted(sections) == HOOKS
    missing_example = [name for name, body in sections.items() if f"def {name}(" not in body]
    assert missing_example == []


class ChatPlugin:
    """A plugin adding an automation action type (the full path is tests/automation/test_assignment_metadata.py)."""

    @hookimpl
    def crmkit_automation_actions(self):
        from crmkit.engine.automation.action_types import ActionType

        return [ActionType.of("post_to_chat", lambda context, payload: None,
                              options_schema={"type": "object", "required": ["channel"]})]


def test_a_plugins_automation_action_type_reaches_the_catalog_metadata_validates_against():
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[ChatPlugin()])
    extensions = Extensions.from_plugins(manager)
    assert set(extensions.action_types) == {"post_to_chat"}
    assert dict(extensions.catalog.action_kinds["post_to_chat"].options_schema) == {
        "type": "object", "required": ["channel"]}
