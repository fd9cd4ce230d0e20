"""The catalog: every file version ever seen with its metadata, the description pages, the runs and
snapshots, the checks, the restore journal and verify's findings (catalog.py: the schema and the
versions; journal.py: the restore journal)."""
from mediarescue.catalog.catalog import (
                                         VERSION_FIELDS,
                                         Catalog,
                                         CatalogBusy,
                                         CatalogError,
                                         CataloguedBlob,
                                         Pending,
                                         Version,
                                         checked_sha256,
                                         now,
)
from mediarescue.catalog.journal import Journal

__all__ = ["VERSION_FIELDS", "Catalog", "CatalogBusy", "CatalogError", "CataloguedBlob", "Journal", "Pending",
           "Version", "checked_sha256", "now"]
