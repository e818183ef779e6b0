"""newuser14 (issue 12, outside check as an integrator): date-times in an import by a user in Beijing."""
from __future__ import annotations

from datetime import datetime, timezone


from crmkit.engine.security.users import SystemDirectory
from crmkit.engine.transfer.importer import ImportOptions, ImportService

MEETINGS = """
package: meetings
version: "1.0.0"
objects:
  meeting:
    label: {en: Meeting, zh: 会议}
    fields:
      subject: {type: text, label: {en: Subject, zh: 主题}}
      starts: {type: datetime, label: {en: Starts, zh: 开始时间}}
"""


def test_a_date_time_cell_is_read_in_the_importing_users_time_zone(crm, install, tmp_path):
    install(MEETINGS)
    user = SystemDirectory(crm).create_user("beijing", display_name="Beijing", permission_sets=["admin"],
                                            language="zh-CN", timezone="Asia/Shanghai").id
    path = tmp_path / "meetings.csv"
    path.write_text("主题,开始时间\n周会,2026/3/5 14:30\n", encoding="utf-8")
    report = ImportService(crm.as_user(user), "meeting").import_file(path, ImportOptions())
    assert (report.created, report.failed) == (1, 0)
    (meeting,) = crm.as_system().records("meeting").query().records
    assert meeting["starts"] == datetime(2026, 3, 5, 6, 30, tzinfo=timezone.utc)
