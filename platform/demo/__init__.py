"""crmkit.demo: realistic demo records for any installed package (not part of the engine).

    from crmkit.demo import DemoGenerator
    DemoGenerator(crm, seed=1).generate(records=600)
"""
from crmkit.demo.generator import DemoError, DemoGenerator

__all__ = ["DemoError", "DemoGenerator"]
