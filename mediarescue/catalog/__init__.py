"""The catalog: every file version ever seen with its metadata, the description pages, the runs and
snapshots, the checks, the restore journal and verify's findings. All of mediarescue's SQL is in this
package: schema.py (tables, indexes, views), catalog.py (runs, versions, pages, lookups), migrate.py,
checks.py (what `check` reads and records), status.py (what `status` and the metrics read),
snapshots.py (point-in-time answers), journal.py (the restore journal); base.py holds what they share."""
from mediarescue.catalog.base import CatalogBusy, CatalogDamaged, CatalogError, checked_sha256, now
from mediarescue.catalog.catalog import VERSION_FIELDS, Catalog, Pending, Version
from mediarescue.catalog.checks import CataloguedBlob
from mediarescue.catalog.journal import Journal

__all__ = ["VERSION_FIELDS", "Catalog", "CatalogBusy", "CatalogDamaged", "CatalogError", "CataloguedBlob", "Journal",
           "Pending", "Version", "checked_sha256", "now"]
