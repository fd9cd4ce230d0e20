"""MediaWiki: the Action API client (api.py) and where a wiki keeps its files (layout.py)."""
from mediarescue.mediawiki.api import (
                                       CHUNK_SIZE,
                                       VERSION,
                                       APIError,
                                       MediaWiki,
                                       canonical_title,
                                       title_batches,
                                       user_agent,
)
from mediarescue.mediawiki.layout import (
                                       MediaLayout,
                                       archive_path,
                                       db_key,
                                       deleted_path,
                                       public_path,
                                       sha1_base36,
                                       sha1_from_base36,
                                       upload_dir_path,
)

__all__ = ["CHUNK_SIZE", "VERSION", "APIError", "MediaLayout", "MediaWiki", "archive_path", "canonical_title",
           "db_key", "deleted_path", "public_path", "sha1_base36", "sha1_from_base36", "title_batches",
           "upload_dir_path", "user_agent"]
