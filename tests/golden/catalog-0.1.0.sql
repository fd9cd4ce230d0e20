-- A catalog as mediarescue 0.1.0 (before the layout of issue 10) wrote it.
BEGIN TRANSACTION;
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    sha1 TEXT NOT NULL,                 -- computed from the bytes
    size INTEGER NOT NULL,
    stored TEXT NOT NULL,
    encrypted INTEGER NOT NULL DEFAULT 0  -- sealed at rest (private content; collector.crypto)
);
INSERT INTO "blobs" VALUES('1111111111111111111111111111111111111111111111111111111111111111','aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',3,'2026-11-29T17:27:32Z',0);
INSERT INTO "blobs" VALUES('2222222222222222222222222222222222222222222222222222222222222222','bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',4,'2026-11-29T17:27:32Z',0);
INSERT INTO "blobs" VALUES('3333333333333333333333333333333333333333333333333333333333333333','cccccccccccccccccccccccccccccccccccccccc',5,'2026-11-29T17:27:32Z',0);
CREATE TABLE checks (     -- where `mediarescue check` stands, so a cut-short check resumes
    mode TEXT PRIMARY KEY,              -- exists | read-data
    position TEXT,                      -- the last sha256 checked by the pass under way; NULL: none
    pass_started TEXT,
    checked INTEGER NOT NULL DEFAULT 0, -- blobs checked by the pass under way
    updated TEXT,
    last_complete TEXT                  -- when a pass last reached the end
);
CREATE TABLE pages (
    wiki TEXT NOT NULL,
    title TEXT NOT NULL,
    page_id INTEGER,
    rev_id INTEGER NOT NULL,
    rev_timestamp TEXT,
    text TEXT NOT NULL,
    first_run INTEGER NOT NULL REFERENCES runs(id)  -- the run that first read this revision
);
INSERT INTO "pages" VALUES('w','File:A.png',7,70,'2026-01-01T00:00:00Z','== Summary ==
A file.',1);
CREATE TABLE restore_journal (
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
INSERT INTO "restore_journal" VALUES(1,'w','File:B.png','repair-current',1,'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','verified',1,'2026-11-29T17:27:32Z','2026-11-29T17:27:32Z',NULL,NULL,'read back');
CREATE TABLE restore_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    started TEXT NOT NULL,
    ended TEXT,
    status TEXT NOT NULL,        -- running | done | failed | interrupted
    reason TEXT,                 -- the operator's, e.g. an incident ticket
    report_page TEXT
);
INSERT INTO "restore_runs" VALUES(1,'w','2026-11-29T17:27:32Z','2026-11-29T17:27:32Z','done','INC-1',NULL);
CREATE TABLE runs (
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
INSERT INTO "runs" VALUES(1,'w','full','2026-11-29T17:27:32Z','2026-11-29T17:27:32Z','done',3,3,12,0);
INSERT INTO "runs" VALUES(2,'w','incremental','2026-11-29T17:27:32Z','2026-11-29T17:27:32Z','done',0,0,0,0);
CREATE TABLE snapshots (
    run INTEGER PRIMARY KEY REFERENCES runs(id),
    new_versions INTEGER NOT NULL DEFAULT 0,      -- versions this run saw first
    changed_versions INTEGER NOT NULL DEFAULT 0,  -- known versions whose title, status or archive name it changed
    log_position TEXT,  -- JSON: how far the wiki's log was applied, set once the run is done (collector.incremental)
    forgotten TEXT      -- when `forget` dropped this snapshot's detail: its point in time is no longer answered
);
INSERT INTO "snapshots" VALUES(1,3,0,NULL,NULL);
INSERT INTO "snapshots" VALUES(2,0,1,NULL,NULL);
CREATE TABLE verifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki TEXT NOT NULL,
    finished TEXT NOT NULL,
    checked_files INTEGER NOT NULL,
    checked_versions INTEGER NOT NULL
);
INSERT INTO "verifications" VALUES(1,'w','2026-11-29T17:27:32Z',2,3);
CREATE TABLE verify_findings (
    verification INTEGER NOT NULL REFERENCES verifications(id),
    title TEXT NOT NULL,
    problem TEXT NOT NULL,       -- current-missing | current-corrupt | old-missing | ... | file-gone
    timestamp TEXT,
    sha1 TEXT,
    archive_name TEXT
);
INSERT INTO "verify_findings" VALUES(1,'File:B.png','current-missing','2026-01-01T00:00:00Z','aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',NULL);
CREATE TABLE version_states (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    until_run INTEGER NOT NULL REFERENCES runs(id),
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    archive_name TEXT,
    PRIMARY KEY (version_id, until_run)
) WITHOUT ROWID;
INSERT INTO "version_states" VALUES(1,2,'File:A.png','current',NULL);
CREATE TABLE versions (
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
INSERT INTO "versions" VALUES(1,'w','File:B.png','File:A.png','2026-01-01T00:00:00Z','Alice',NULL,3,NULL,NULL,'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','1111111111111111111111111111111111111111111111111111111111111111','current',NULL,NULL,0,1,1,'ok',NULL);
INSERT INTO "versions" VALUES(2,'w','File:A.png','File:A.png','2025-12-01T00:00:00Z','Bob',NULL,4,NULL,NULL,'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb','2222222222222222222222222222222222222222222222222222222222222222','old','20251201000000!A.png',NULL,0,1,1,'ok',NULL);
INSERT INTO "versions" VALUES(3,'w','File:Gone.png','File:Gone.png','2025-11-01T00:00:00Z','Eve',NULL,5,NULL,NULL,'cccccccccccccccccccccccccccccccccccccccc','3333333333333333333333333333333333333333333333333333333333333333','deleted',NULL,NULL,1,1,1,'ok',NULL);
CREATE UNIQUE INDEX versions_identity ON versions (wiki, title, timestamp, sha1);
CREATE INDEX versions_sha1_settled ON versions (sha1) WHERE backup_status != 'pending';
CREATE INDEX versions_pending ON versions (first_run) WHERE backup_status = 'pending';
CREATE INDEX versions_sha256 ON versions (sha256) WHERE sha256 IS NOT NULL;
CREATE UNIQUE INDEX pages_identity ON pages (wiki, title, rev_id);
CREATE INDEX verify_findings_by_verification ON verify_findings (verification);
CREATE INDEX restore_journal_by_version ON restore_journal (version_id, wiki);
CREATE INDEX restore_journal_by_title ON restore_journal (wiki, title);
CREATE INDEX version_states_title ON version_states (title);
CREATE VIEW sha1_collisions AS
    SELECT sha1, COUNT(DISTINCT sha256) AS contents, GROUP_CONCAT(DISTINCT id) AS version_ids
    FROM versions WHERE sha256 IS NOT NULL GROUP BY sha1 HAVING COUNT(DISTINCT sha256) > 1;
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('runs',2);
INSERT INTO "sqlite_sequence" VALUES('versions',3);
INSERT INTO "sqlite_sequence" VALUES('verifications',1);
INSERT INTO "sqlite_sequence" VALUES('restore_runs',1);
INSERT INTO "sqlite_sequence" VALUES('restore_journal',1);
COMMIT;
