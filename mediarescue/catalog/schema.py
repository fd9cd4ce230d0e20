"""The catalog's schema: every table, index and view, as SQLite creates them. Migrations of older
catalogs are in migrate.py."""

# A description page's text, a row per revision read. Keyed in the order a run lists titles, for the
# same reason as versions; a revision read again changes nothing.
PAGES = """CREATE TABLE IF NOT EXISTS pages (
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,
    page_id INTEGER,
    rev_id INTEGER NOT NULL,
    rev_timestamp TEXT,
    text TEXT NOT NULL,
    first_run INTEGER NOT NULL   -- runs(id): the run that first read this revision (no foreign key: see versions)
);
CREATE UNIQUE INDEX IF NOT EXISTS pages_identity ON pages (wiki, title, rev_id);"""
# The tables a dump of the catalog holds (dump.py), in the order they are written and loaded, each
# with its key: its INTEGER PRIMARY KEY, else SQLite's rowid (a column of its own on PostgreSQL).
DUMP_KEYS = {"runs": ("id",), "snapshots": ("run",), "versions": ("id",), "version_states": ("version_id", "until_run"),
             "pages": ("rowid",), "blobs": ("rowid",), "checks": ("rowid",), "verifications": ("id",),
             "verify_findings": ("rowid",), "restore_runs": ("id",), "restore_journal": ("id",),
             "rollback_journal": ("id",)}
DUMPED_TABLES = tuple(DUMP_KEYS)
# The metadata's own bookkeeping (what a catalog knows of its store copies) and the work of a run
# under way (fetch_queue, list_ranges, seen_ranges): never dumped into the store.
BOOKKEEPING_TABLES = ("metadata_changes", "metadata_objects", "catalog_identity", "fetch_queue", "list_ranges",
                      "seen_ranges")


# Tables whose new rows are noted by the code that inserts them, as one id range a batch, not by a
# trigger: a row trigger costs SQLite 5-15 % of a backup's recording, and PostgreSQL's statement
# trigger ~8 us a row (its transition table). Every path that inserts into them notes its rows
# (catalog.record_versions, with dump.note_range); a catalog being rebuilt from dumps notes nothing.
NOTED_BY_WRITER = ("versions",)


def tracking(engine: str) -> str:
    """Triggers noting every change of a dumped table in metadata_changes, by its key: one per row
    on SQLite; on PostgreSQL one per statement, reading the statement's changed rows (transition
    tables), so a COPY or a batch of thousands notes them in one INSERT, each run of consecutive
    keys as one range: a full run refreshes each batch of versions it sees again, of neighbouring
    ids, in one statement, so it notes a row or a few a batch where a row a version would hold its
    whole refresh (Commons: 120 M rows) until its metadata is saved. New rows of the tables in
    NOTED_BY_WRITER are noted by their writer instead, as a range (metadata_changes below)."""
    out = []
    for table, key in DUMP_KEYS.items():
        k1, k2 = key[0], key[1] if len(key) > 1 else "0"
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            if event == "INSERT" and table in NOTED_BY_WRITER:
                continue
            name = f"{table}_{event.lower()}_noted"
            if engine == "sqlite":
                out.append(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table} BEGIN INSERT INTO "
                           f"metadata_changes (tbl, k1, k2) VALUES ('{table}', {row}.{k1}, "
                           f"{row + '.' + k2 if k2 != '0' else '0'}); END;")
                continue
            noted = f"SELECT '{table}', {k1}, {k2} FROM changed"
            if len(key) == 1 and event != "DELETE":  # a run of keys as one range; a deletion is noted alone
                noted = (f"SELECT '{table}', MIN(k), CASE WHEN MIN(k) = MAX(k) THEN 0 ELSE MAX(k) END FROM "
                         f"(SELECT {k1} AS k, {k1} - ROW_NUMBER() OVER (ORDER BY {k1}) AS run FROM changed) AS c "
                         "GROUP BY run")
            out.append(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       f"INSERT INTO metadata_changes (tbl, k1, k2) {noted}; RETURN NULL; END $$;\n"
                       f"CREATE OR REPLACE TRIGGER {name} AFTER {event} ON {table} REFERENCING "
                       f"{'OLD' if event == 'DELETE' else 'NEW'} TABLE AS changed FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION {name}();")
    return "\n".join(out)


SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    kind TEXT NOT NULL,                 -- full | incremental
    started TEXT NOT NULL,
    ended TEXT,
    status TEXT NOT NULL,               -- running | done | failed | interrupted
    versions_seen INTEGER NOT NULL DEFAULT 0,
    new_blobs INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,   -- bytes of the new blobs
    errors INTEGER NOT NULL DEFAULT 0,
    versions_stored INTEGER NOT NULL DEFAULT 0,  -- versions whose bytes the run stored (new blobs or not)
    lag_seconds REAL                    -- follow mode: the longest a change it applied took from the wiki's log to
                                        -- the catalog (bytes stored); NULL when it applied none
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,             -- mediarescue's own id of a file version: never reused (record_versions)
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,                -- as of the last run that saw it
    title_at_upload TEXT,               -- NULL: the title (most versions; ~50 bytes a version saved)
    timestamp INTEGER NOT NULL,         -- upload time, Unix seconds (ISO 8601 UTC at the edges)
    user TEXT,
    comment TEXT,
    size INTEGER NOT NULL,
    mime TEXT,
    media_type TEXT,
    sha1 BLOB NOT NULL,                 -- 20 bytes, as the wiki reports it (hex at the edges)
    sha256 BLOB,                        -- 32 bytes, of the stored bytes; NULL until backed up
    status TEXT NOT NULL,               -- current | old | deleted | vanished (gone, unexplained; kept)
    archive_name TEXT,                  -- old versions: TIMESTAMP!Name
    filearchive_id INTEGER,             -- deleted versions: the wiki's fa_id
    private INTEGER NOT NULL DEFAULT 0, -- deleted content: never shown or re-uploaded publicly
    -- runs(id), without a foreign key: runs are never deleted, and checking one a row cost PostgreSQL
    -- ~7 of the ~17 µs of server time a new version takes (two RI triggers a row)
    first_run INTEGER NOT NULL,
    last_run INTEGER NOT NULL,          -- the last run that wrote this row: new, changed, or seen hidden; a
                                        -- run that sees it again unchanged notes it in seen_ranges instead
    backup_status TEXT NOT NULL DEFAULT 'pending',  -- pending | ok | error | unreachable | pruned
    error TEXT
);
-- Indexes are what a backup's listing pays for per row, so only those a lookup needs, and none
-- that a batch of new versions would write in random order: the identity index grows in the order
-- a full run lists titles (and serves lookups by title, one probe per wiki); a new version enters
-- the sha1 and sha256 indexes when its bytes are stored or given up, one file at a time, and is
-- found through versions_pending (appended to in id order) until then.
CREATE UNIQUE INDEX IF NOT EXISTS versions_identity ON versions (wiki, title, timestamp, sha1);
CREATE INDEX IF NOT EXISTS versions_sha1_settled ON versions (sha1) WHERE backup_status != 'pending';
CREATE INDEX IF NOT EXISTS versions_pending ON versions (first_run) WHERE backup_status = 'pending';
CREATE INDEX IF NOT EXISTS versions_sha256 ON versions (sha256) WHERE sha256 IS NOT NULL;
-- what `status` counts: versions whose bytes could not be stored (few, unless something is wrong)
CREATE INDEX IF NOT EXISTS versions_failed ON versions (wiki) WHERE backup_status IN ('error', 'unreachable');
{PAGES}
CREATE TABLE IF NOT EXISTS blobs (
    sha256 BLOB PRIMARY KEY,            -- 32 bytes
    sha1 BLOB NOT NULL,                 -- 20 bytes, computed from the bytes
    size INTEGER NOT NULL,
    stored TEXT NOT NULL,
    encrypted INTEGER NOT NULL DEFAULT 0  -- sealed at rest (private content; mediarescue.blobstore.crypto)
);
CREATE TABLE IF NOT EXISTS checks (     -- where `mediarescue check` stands, so a cut-short check resumes
    mode TEXT PRIMARY KEY,              -- exists | read-data
    position TEXT,                      -- the last sha256 checked by the pass under way; NULL: none
    pass_started TEXT,
    checked INTEGER NOT NULL DEFAULT 0, -- blobs checked by the pass under way
    updated TEXT,
    last_complete TEXT,                 -- when a pass last reached the end
    last_run TEXT,                      -- when a check of this mode last ran, and what it found:
    last_checked INTEGER,               --   blobs checked,
    last_missing INTEGER,               --   missing,
    last_corrupt INTEGER,               --   corrupt,
    last_errors INTEGER                 --   and read errors
);
CREATE TABLE IF NOT EXISTS verifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    finished TEXT NOT NULL,
    checked_files INTEGER NOT NULL,
    checked_versions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS verify_findings (
    verification INTEGER NOT NULL REFERENCES verifications(id),
    title TEXT NOT NULL,
    problem TEXT NOT NULL,       -- current-missing | current-corrupt | old-missing | ... | file-gone
    timestamp TEXT,
    sha1 TEXT,
    archive_name TEXT
);
CREATE INDEX IF NOT EXISTS verify_findings_by_verification ON verify_findings (verification);
CREATE TABLE IF NOT EXISTS restore_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    status TEXT NOT NULL,        -- running | done | failed | interrupted
    reason TEXT,                 -- the operator's, e.g. an incident ticket
    report_page TEXT,
    restored INTEGER,            -- versions restored and verified by the run
    failed INTEGER,              -- actions that failed or could not be verified
    kind TEXT NOT NULL DEFAULT 'restore'  -- restore | rollback
);
CREATE TABLE IF NOT EXISTS restore_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,
    action TEXT NOT NULL,        -- repair-current | reupload-file | restore-old-version
    version_id INTEGER NOT NULL REFERENCES versions(id),
    sha1 TEXT NOT NULL,
    step TEXT NOT NULL,          -- started | uploaded | reverted | verified | failed
    run INTEGER NOT NULL REFERENCES restore_runs(id),  -- the run that last worked on it
    started TEXT NOT NULL,       -- before anything was written: what the wiki shows after is ours
    updated TEXT NOT NULL,
    upload_timestamp TEXT,       -- the version our upload made
    revert_to TEXT,              -- old-version restores: the version to make current again, as planned first
    detail TEXT
);
CREATE INDEX IF NOT EXISTS restore_journal_by_version ON restore_journal (version_id, wiki);
CREATE INDEX IF NOT EXISTS restore_journal_by_title ON restore_journal (wiki, title);  -- plan asks per title
-- A rollback's journal: one entry per title and run that acts, its steps recorded before and after
-- each write, so a killed rollback resumes and a finished one is never done twice.
CREATE TABLE IF NOT EXISTS rollback_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,         -- as of the snapshot: what the title is again afterwards
    action TEXT NOT NULL,        -- policies.rollback.Rollback
    steps TEXT NOT NULL,         -- the planned writes, space-separated: move undelete filerevert upload delete
    sha1 TEXT,                   -- what must be current afterwards (none for a deletion)
    snapshot INTEGER NOT NULL,   -- the run whose state is the target
    step TEXT NOT NULL,          -- started | <write>-sent | <write>-done ... | verified | failed
    run INTEGER NOT NULL REFERENCES restore_runs(id),  -- the run that last worked on it
    started TEXT NOT NULL,
    updated TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS rollback_journal_by_title ON rollback_journal (wiki, title);
-- Every run is a snapshot: what it saw, kept immutable. This is what a snapshot needs beyond `runs`.
CREATE TABLE IF NOT EXISTS snapshots (
    run INTEGER PRIMARY KEY REFERENCES runs(id),
    new_versions INTEGER NOT NULL DEFAULT 0,      -- versions this run saw first
    changed_versions INTEGER NOT NULL DEFAULT 0,  -- known versions whose title, status or archive name it changed
    log_position TEXT,  -- JSON: how far the wiki's log was applied, set once the run is done (collector.incremental)
    forgotten TEXT      -- when `forget` dropped this snapshot's detail: its point in time is no longer answered
);
-- The states versions had before a run changed them: the row (v, R) is the state v had up to run R,
-- so the state of v as of run N is the first row with until_run > N, else v's row in `versions`.
-- Only a change makes a row: the millions of versions that never change cost nothing here.
CREATE TABLE IF NOT EXISTS version_states (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    until_run INTEGER NOT NULL REFERENCES runs(id),
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    archive_name TEXT,
    PRIMARY KEY (version_id, until_run)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS version_states_title ON version_states (title);
-- The metadata kept in the backup store (collector/metadata.py, dump.py): each change to a dumped
-- table notes its key here (triggers below), and the next dump written to the store takes the rows
-- of those keys and clears what it covered; appended in order, so a change made while a dump is
-- written stays for the next one. One row per change, repeats included: no index to keep. A batch
-- of new versions is one row, the range of its ids (k2 > 0; tracking() above): a key in a range
-- that has no row is no deletion (a gap, or a row whose DELETE was noted on its own).
CREATE TABLE IF NOT EXISTS metadata_changes (
    seq INTEGER PRIMARY KEY,
    tbl TEXT NOT NULL,
    k1 INTEGER NOT NULL,          -- the rowid (the first of a range), or version_states' version_id
    k2 INTEGER NOT NULL DEFAULT 0 -- 0: the key k1 alone; else the last key of the range k1..k2, or
                                  -- version_states' until_run (its key is two columns: no ranges)
);
-- The metadata objects this catalog wrote to the store (a copy of what the store's listing says).
CREATE TABLE IF NOT EXISTS metadata_objects (
    name TEXT PRIMARY KEY,        -- the object's name under the store's metadata prefix
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,           -- full | delta
    run INTEGER,                  -- the catalog's newest run when it was written
    bytes INTEGER NOT NULL,       -- as stored (sealed size when sealed)
    written TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog_identity (id TEXT NOT NULL);  -- names this catalog's metadata in the store
-- Work shared by the collectors of a PostgreSQL catalog (`backup --join`): the versions whose bytes the
-- running run still needs, each claimed by one process at a time for a lease that it renews while it
-- works; a killed process's claims go back to the pool when their lease runs out. Rows go when the
-- bytes are stored or failed. Not dumped: it is work in progress, not the catalog's content.
CREATE TABLE IF NOT EXISTS fetch_queue (
    version_id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    job TEXT NOT NULL,            -- JSON: the version as listed, where its bytes are read from included
    lease_until REAL,             -- claimed until (Unix time); NULL or past: free to claim
    owner TEXT                    -- the claiming process (host:pid:random)
);
-- A full run's listing split by title ranges (`backup --list-split`, PostgreSQL catalogs): range `seq`
-- holds the titles from `first_title` (inclusive; NULL: the first) up to `next_title` (exclusive; NULL:
-- the last), live and deleted. Each is listed by one process at a time, for a lease it renews batch by
-- batch; a killed process's range goes back to the pool when its lease runs out and is listed again.
-- Not dumped: it is work in progress, dropped with the run's fetch_queue rows once the run is over.
CREATE TABLE IF NOT EXISTS list_ranges (
    run INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    first_title TEXT,
    next_title TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    lease_until REAL,
    owner TEXT,
    PRIMARY KEY (run, seq)
);
-- The known versions a run saw again unchanged, as ranges of their ids (seen.py): what tells
-- `unseen` that the run saw a version whose row it did not write. Work in progress as list_ranges:
-- not dumped, dropped once the run is over.
CREATE TABLE IF NOT EXISTS seen_ranges (
    run INTEGER NOT NULL,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_ranges_by_run ON seen_ranges (run, first_id);
CREATE VIEW IF NOT EXISTS sha1_collisions AS
    SELECT sha1, COUNT(DISTINCT sha256) AS contents, GROUP_CONCAT(DISTINCT id) AS version_ids
    FROM versions WHERE sha256 IS NOT NULL GROUP BY sha1 HAVING COUNT(DISTINCT sha256) > 1;
"""
