"""plugins/cn_address: a Chinese address field type, province / city / district as GB/T 2260 codes."""
from __future__ import annotations

import pytest

from crmkit.engine import RecordValidationError
from crmkit.engine.fieldtypes.presentation import Presentation
from tests.plugins.conftest import plugin_module

address_plugin = plugin_module("cn_address")

PACKAGE = """
package: offices
version: "1.0.0"
objects:
  office:
    fields:
      name: {type: text}
      region: {type: cn_address}
      address: {type: cn_address, street: true}
      province: {type: cn_address, level: province}
      city: {type: cn_address, level: city}
      province_name: {type: formula, returns: text, formula: "cn_province(address)"}
      district_name: {type: formula, returns: text, formula: "cn_district(address)"}
"""


@pytest.fixture
def offices(crm_with):
    return crm_with(address_plugin, PACKAGE).as_system().records("office")


@pytest.mark.parametrize(("typed", "stored"), [
    ("广东省深圳市南山区", "440305"),
    ("广东 深圳 南山", "440305"),
    ("深圳市南山区", "440305"),
    ("北京朝阳区", "110105"),
    ("440305", "440305"),
    ("东莞市", "441900"),  # a prefecture-level city without districts
    ("香港特别行政区", "810000"),
])
def test_a_division_is_stored_as_its_code_however_it_is_typed(offices, typed, stored):
    assert offices.create({"region": typed})["region"] == stored


def test_the_street_follows_the_code_and_reads_as_one_address(offices):
    office = offices.create({"address": "广东省深圳市南山区科技南十二路2号"})
    assert office["address"] == "440305 科技南十二路2号"
    assert (office["province_name"], office["district_name"]) == ("广东省", "南山区")
    field = offices.obj.fields["address"]
    shown = address_plugin.show_address(field, office["address"], Presentation.of("zh"))
    assert shown.text == "广东省深圳市南山区 科技南十二路2号"
    assert address_plugin.show_address(field, "110105", Presentation.of("en")).text == "北京市朝阳区"


def test_a_coarser_field_keeps_the_division_at_its_level(offices):
    office = offices.create({"province": "深圳市南山区", "city": "广东省深圳市南山区"})
    assert (office["province"], office["city"]) == ("440000", "440300")


@pytest.mark.parametrize(("values", "message"), [
    ({"region": "朝阳区"}, "'朝阳区' names several places (北京市朝阳区、吉林省长春市朝阳区): add the province or city."),
    ({"region": "广东省"}, "Choose the district too: 广东省 has several."),
    ({"city": "四川"}, "Choose the city too: 四川省 has several."),
    ({"region": "火星市"}, "'火星市' is not a province, city or district of China"),
    ({"region": "广东省深圳市南山区科技南十二路2号"}, "put '科技南十二路2号' in a field of its own"),
    ({"region": "999999"}, "'999999' is not a province"),
])
def test_what_names_no_single_division_is_refused_with_a_way_out(offices, values, message):
    with pytest.raises(RecordValidationError) as caught:
        offices.create(values)
    (field,) = values
    assert message in caught.value.errors[field][0]


def test_lists_filter_a_province_by_the_start_of_its_code(offices):
    offices.create({"name": "Shenzhen", "region": "深圳南山"})
    offices.create({"name": "Guangzhou", "region": "广州市天河区"})
    offices.create({"name": "Beijing", "region": "北京市海淀区"})
    found = offices.query(filter={"region": {"startswith": "44"}}, sort=["name"])
    assert [record["name"] for record in found.records] == ["Guangzhou", "Shenzhen"]


def test_refusals_read_in_chinese_with_the_level_translated():
    from crmkit.engine.messages import translated

    english = address_plugin.TOO_COARSE(level="district", place="广东省")
    assert translated(english, "zh-CN", address_plugin.MESSAGES) == "请同时选择区县：广东省下有多个。"
