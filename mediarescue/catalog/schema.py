"""The catalog's schema: every table, index and view, as SQLite creates them. Migrations of older
catalogs are in catalog.py (`Catalog._migrate`)."""

# A description page's text, a row per revision read. Keyed in the order a run lists titles, for the
# same reason as versions; a revision read again changes nothing.
PAGES = """CREATE TABLE IF NOT EXISTS pages (
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,
    page_id INTEGER,
    rev_id INTEGER NOT NULL,
    rev_timestamp TEXT,
    text TEXT NOT NULL,
    first_run INTEGER NOT NULL REFERENCES runs(id)  -- the run that first read this revision
);
CREATE UNIQUE INDEX IF NOT EXISTS pages_identity ON pages (wiki, title, rev_id);"""
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
    errors INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,             -- mediarescue's own id of a file version: never reused (record_versions)
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,                -- as of the last run that saw it
    title_at_upload TEXT NOT NULL,
    timestamp TEXT NOT NULL,            -- upload time, ISO 8601 UTC, as the wiki reports it
    user TEXT,
    comment TEXT,
    size INTEGER NOT NULL,
    mime TEXT,
    media_type TEXT,
    sha1 TEXT NOT NULL,                 -- hex, as the wiki reports it
    sha256 TEXT,                        -- of the stored bytes; NULL until backed up
    status TEXT NOT NULL,               -- current | old | deleted | vanished (gone, unexplained; kept)
    archive_name TEXT,                  -- old versions: TIMESTAMP!Name
    filearchive_id INTEGER,             -- deleted versions: the wiki's fa_id
    private INTEGER NOT NULL DEFAULT 0, -- deleted content: never shown or re-uploaded publicly
    first_run INTEGER NOT NULL REFERENCES runs(id),
    last_run INTEGER NOT NULL REFERENCES runs(id),
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
{PAGES}
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    sha1 TEXT NOT NULL,                 -- computed from the bytes
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
    last_complete TEXT                  -- when a pass last reached the end
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
CREATE VIEW IF NOT EXISTS sha1_collisions AS
    SELECT sha1, COUNT(DISTINCT sha256) AS contents, GROUP_CONCAT(DISTINCT id) AS version_ids
    FROM versions WHERE sha256 IS NOT NULL GROUP BY sha1 HAVING COUNT(DISTINCT sha256) > 1;
"""
