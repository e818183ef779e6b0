"""Page statements remembered across operations are keyed by the ids of the objects they were built from."""
import gc
import weakref

from crmkit.engine.query import sorting


class RowFilter:
    """Stands in for a user's row filter: any object whose id() a remembered statement's key holds."""


def test_a_remembered_statement_keeps_the_objects_its_key_names_alive():
    # If the row filter could be collected while its statement is remembered, another
    # user's row filter could be created at the same address and be served this statement.
    row_filter = RowFilter()
    key = ("test-first-page", id(row_filter))
    sorting._remembered(key, (row_filter,), lambda: "the page statement")
    alive = weakref.ref(row_filter)
    del row_filter
    gc.collect()
    try:
        assert alive() is not None
        assert sorting._remembered(key, (), lambda: "another statement") == "the page statement"
    finally:
        sorting._STATEMENTS.pop(key, None)
