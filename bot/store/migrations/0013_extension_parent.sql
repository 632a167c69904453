-- 0013: a task may continue its parent's result as the next shot (▶ Extend): parent_kind
-- 'extension', beside 'edit' and 'variation'.
--
-- SQLite can't change a CHECK constraint. Rather than rebuilding the table (0009 does), the
-- stored CREATE TABLE text of `tasks` has its list of kinds widened in place: SQLite documents
-- this as the way to loosen a constraint ("Making Other Kinds Of Table Schema Changes",
-- lang_altertable.html): nothing on disk changes and every stored row meets the wider rule. It
-- also leaves the table's other columns alone, whatever another migration added.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(
    sql,
    'parent_kind IN (''edit'', ''variation'')',
    'parent_kind IN (''edit'', ''variation'', ''extension'')')
WHERE type = 'table' AND name = 'tasks';
PRAGMA writable_schema = OFF;
-- Found and widened, or the migration fails here and is rolled back (0 breaks the CHECK).
CREATE TEMP TABLE migration_0013 (widened INTEGER NOT NULL CHECK (widened = 1));
INSERT INTO temp.migration_0013
SELECT instr(sql, '''extension''') > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'tasks';
DROP TABLE temp.migration_0013;
-- A change of the schema moves its version number, so other connections read it again; this
-- one reads it again at RESET.
CREATE TABLE migration_0013_schema_bump (unused INTEGER);
DROP TABLE migration_0013_schema_bump;
PRAGMA writable_schema = RESET;
