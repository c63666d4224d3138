//! The database a test server uses: a file under its data folder (SQLite), or a fresh
//! PostgreSQL database made on the server named by `HANGAR_TEST_DATABASE_URL` and dropped after.

use std::path::Path;

pub enum TestDatabase {
    Sqlite,
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub fn sqlite() -> TestDatabase {
        TestDatabase::Sqlite
    }

    /// A fresh PostgreSQL database, or `None` when `HANGAR_TEST_DATABASE_URL` is not set.
    pub async fn postgres() -> Option<TestDatabase> {
        let admin_url = std::env::var("HANGAR_TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let name = format!("hangar_test_{:016x}", rand::random::<u64>());
        let pool = sqlx::PgPool::connect(&admin_url)
            .await
            .expect("HANGAR_TEST_DATABASE_URL answers");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .expect("create database");
        pool.close().await;
        Some(TestDatabase::Postgres { admin_url, name })
    }

    pub fn url(&self, data: &Path) -> String {
        match self {
            TestDatabase::Sqlite => format!("sqlite://{}", data.join("hangar.db").display()),
            TestDatabase::Postgres { admin_url, name } => with_database(admin_url, name),
        }
    }
}

/// `admin_url` with its database name replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("HANGAR_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Dropping needs a runtime of its own: the test's may be gone.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let pool = sqlx::PgPool::connect(&admin_url).await.ok()?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&pool)
                        .await
                        .ok()?;
                    pool.close().await;
                    Some(())
                })
            })
            .join();
        }
    }
}
