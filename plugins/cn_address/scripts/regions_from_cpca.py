"""Writes crmkit_cn_address/regions.tsv from the administrative division codes (GB/T 2260) that cpca ships.

    pip download --no-deps cpca==0.5.5 -d /tmp/cpca && python -m zipfile -e /tmp/cpca/cpca-*.whl /tmp/cpca/x
    python scripts/regions_from_cpca.py /tmp/cpca/x/cpca/resources/adcodes.csv

cpca (MIT, https://github.com/DQinYuan/chinese_province_city_area_mapper) keeps the codes of
every province, prefecture and county-level division as 12-digit adcodes with names; the
plugin needs only the 6-digit code and the name, sorted by code, one division a line.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "crmkit_cn_address" / "regions.tsv"


def main(source: str) -> None:
    with open(source, encoding="utf-8", newline="") as handle:
        divisions = {row["adcode"][:6]: row["name"].strip() for row in csv.DictReader(handle)}
    lines = [f"{code}\t{name}\n" for code, name in sorted(divisions.items())]
    TARGET.write_text("# GB/T 2260 division codes and names, from cpca 0.5.5 (MIT); scripts/regions_from_cpca.py\n"
                      + "".join(lines), encoding="utf-8")
    print(f"{TARGET}: {len(lines)} divisions")


if __name__ == "__main__":
    main(sys.argv[1])
