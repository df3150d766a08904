-- Nothing to do here: SQLite's migration 5 drops AUTOINCREMENT from its audit log, and
-- PostgreSQL's BIGSERIAL has no equivalent cost. The file keeps the two lists numbered alike.
SELECT 1;
