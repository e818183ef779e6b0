"""Schema migrations: plan the change from installed to new metadata, then apply it in one transaction."""
from crmkit.engine.migrations.applier import Applier
from crmkit.engine.migrations.planner import MigrationError, plan_migration
from crmkit.engine.migrations.steps import MigrationPlan, Step

__all__ = ["Applier", "MigrationError", "MigrationPlan", "Step", "plan_migration"]
