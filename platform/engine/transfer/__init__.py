"""Transfer: moving records in and out of crmkit, on top of records and query.

- files.py: reading CSV (encodings detected), XLSX and XLS files as rows of cells.
- mapping.py: which column goes to which field (guessed from labels, or saved).
- duplicates.py: duplicate rules (email, phone, normalised name) and their keys.
- importer.py: `ImportService`, the import itself: dry run, batches, progress, resume.
- jobs.py: import jobs and their error rows (tables.py), read and written.
- spreadsheet.py: list exports as XLSX.
"""
