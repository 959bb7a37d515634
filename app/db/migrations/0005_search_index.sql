-- Full-text search over names, folders and the latest completed analysis of each file.
-- One row per searchable piece of text; `field` says what it is (name, folder, summary, chapter, ...)
-- and `start_seconds` where in the video it is, so a hit can open the player at that time.
-- A file's rows have rowids file_id * 4096 + n, so they are found and deleted by rowid range
-- (UNINDEXED columns have no index; filtering on file_id would scan the whole table).
CREATE VIRTUAL TABLE search_index USING fts5(
    file_id UNINDEXED,
    field UNINDEXED,
    start_seconds UNINDEXED,
    text,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Files whose rows must be rebuilt. Triggers fill it, so every writer (import, on-demand analysis,
-- batch ingest, moves) keeps search current without knowing about it; the search service drains it.
CREATE TABLE search_dirty (
    file_id INTEGER PRIMARY KEY
);

CREATE TRIGGER search_file_added AFTER INSERT ON files
BEGIN
    INSERT OR IGNORE INTO search_dirty (file_id) VALUES (NEW.id);
END;

CREATE TRIGGER search_file_renamed AFTER UPDATE OF name, folder ON files
WHEN NEW.name IS NOT OLD.name OR NEW.folder IS NOT OLD.folder
BEGIN
    INSERT OR IGNORE INTO search_dirty (file_id) VALUES (NEW.id);
END;

CREATE TRIGGER search_file_deleted AFTER DELETE ON files
BEGIN
    DELETE FROM search_index WHERE rowid BETWEEN OLD.id * 4096 AND OLD.id * 4096 + 4095;
    DELETE FROM search_dirty WHERE file_id = OLD.id;
END;

CREATE TRIGGER search_run_completed AFTER UPDATE OF status ON analysis_runs
WHEN NEW.status = 'COMPLETED' AND OLD.status IS NOT 'COMPLETED'
BEGIN
    INSERT OR IGNORE INTO search_dirty (file_id) VALUES (NEW.file_id);
END;

CREATE TRIGGER search_run_deleted AFTER DELETE ON analysis_runs
WHEN OLD.status = 'COMPLETED'
BEGIN
    INSERT OR IGNORE INTO search_dirty (file_id) SELECT OLD.file_id WHERE EXISTS (SELECT 1 FROM files WHERE id = OLD.file_id);
END;

-- Files that existed before this migration.
INSERT OR IGNORE INTO search_dirty (file_id) SELECT id FROM files;
