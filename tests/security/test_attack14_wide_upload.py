"""attack14: the import mapping screen grows about 150 times the uploaded file: a DoS of the web process.

Uploading a CSV to /o/<object>/import renders the mapping screen in the request: for every column of the header
a <select> holding every importable field, and the first rows' cells. Nothing bounds the number of columns (the
upload limit is 16 MB, MAX_CONTENT_LENGTH): a 200 KB file of 20,000 short columns gives a 30 MB page (about 3 s);
a 16 MB one (1.6 million columns) would ask for a page of about 2.4 GB and minutes of CPU of a web worker, from
any user with the import right, and again on every Check / Import post. The engine itself reads a file of a
million columns in about a second.

Expected: a file with more columns than the screen can map refused with a sentence (400), or a page of bounded
size.
"""
from __future__ import annotations


from tests.ui.test_import_pages import admin, import_app, upload  # noqa: F401 (fixtures)

COLUMNS = 20_000


def test_an_upload_of_very_many_columns_is_refused_or_answered_with_a_bounded_page(admin):  # noqa: F811
    data = ("Last Name," + ",".join(f"c{i}" for i in range(COLUMNS)) + "\nSmith,"
            + ",".join("x" for _ in range(COLUMNS)) + "\n").encode()
    assert len(data) < 200_000
    response = upload(admin, data, "wide.csv")
    size = len(response.get_data())
    assert response.status_code == 400 or size < 5_000_000, (response.status_code, size)
