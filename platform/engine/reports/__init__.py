"""crmkit.engine.reports: reports and dashboards declared in metadata, computed in SQL (docs/reports.md).

    result.py   the shapes a report run returns (the UI, the API and exports read only these)
    dashboards.py  context.dashboards: the dashboards a user may see, widget runs, their cache, KPI comparisons
"""
