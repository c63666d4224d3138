//! The store's story, told on SQLite and (when `HANGAR_TEST_DATABASE_URL` is set) PostgreSQL.
