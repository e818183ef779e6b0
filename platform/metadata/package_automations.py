"""Package-level automation rules: `automations:` at the top of a package, each naming its `object:`.

    package: sales_ops
    depends_on: [sales]
    automations:
      - name: hot_account_deal
        object: deal
        on: [created]
        condition: "account.rating == 'Hot'"
        actions:
          - {type: notify, to: [owner], message: "'New deal on a hot account: ' + name"}

Each rule joins the rules of its object, after the object's own rules and those its
extensions add (registry.py merges those first), in package order (a package after the
packages it depends on), then in the order written. The object must be defined by the
package itself or by one it depends on (as for `extends:`); otherwise the rule is reported
at its `object:` with the objects it may name. Once attached, a rule is checked like an
object's own (automation_checks.py): names unique within the object, expressions, actions.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.model import ObjectDef, Package
from crmkit.metadata.semantic import Reporter


def attach_package_automations(packages: Sequence[Package], objects: dict[str, ObjectDef],
                               visible: Mapping[str, set[str]], report: Reporter) -> None:
    """Append each package-level rule of `packages` (in order) to its object in `objects`.

    `visible` maps a package name to the packages whose objects it may name (itself and its
    dependencies). A rule naming an object it may not is reported at its `object:` key.
    """
    for package in packages:
        for rule in getattr(package, "automations", ()):
            target = objects.get(rule.object or "")
            if target is None or target.package not in visible.get(package.name, {package.name}):
                names = sorted(name for name, obj in objects.items()
                               if obj.package in visible.get(package.name, {package.name}))
                hint = did_you_mean(rule.object or "", names) or (
                    f" Objects this package may name: {', '.join(names)}." if names else "")
                where = ("is not an object here" if target is None else
                         f"is defined by the package '{target.package}', which '{package.name}' does not depend on")
                report.at(rule.location, f"the rule '{rule.name}' is for object '{rule.object}', which {where}."
                                         f"{hint}", "object")
                continue
            objects[target.name] = replace(target, automations=target.automations + (rule,))
