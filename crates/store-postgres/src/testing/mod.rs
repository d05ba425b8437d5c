//! Throw-away databases for tests (feature `testing`): one PostgreSQL database per test, on the
//! server named by `TEAMCONTEXT_TEST_DATABASE_URL` (an admin URL) or the local one
//! `scripts/start-postgres.sh` starts (PostgreSQL 18 with pgvector, from PyPI), dropped when the
//! guard goes; and a TLS frontend to that server with a test certificate authority
//! ([`TlsFrontend`], [`TestAuthority`]).

mod tls_frontend;

pub use tls_frontend::{Issued, TestAuthority, TlsFrontend};

use std::sync::OnceLock;

use tokio_postgres::NoTls;

/// The admin URL of the test server, starting the local one on first use.
pub fn admin_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("TEAMCONTEXT_TEST_DATABASE_URL") {
            return url;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/start-postgres.sh");
        let out = std::process::Command::new(script).output().expect("run start-postgres.sh");
        assert!(
            out.status.success(),
            "start-postgres.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 url").trim().to_string()
    })
    .clone()
}

async fn admin_statement(admin: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(admin, NoTls).await?;
    let driver = tokio::spawn(connection);
    let done = client.batch_execute(sql).await;
    drop(client);
    let _ = driver.await;
    done
}

/// A database created for one test and dropped (connections and all) with the guard.
#[derive(Debug)]
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin = admin_url();
        let name = format!("tc_test_{}", uuid::Uuid::now_v7().simple());
        admin_statement(&admin, &format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let (base, _) = admin.rsplit_once('/').expect("a database URL ends in /name");
        let url = format!("{base}/{name}");
        TestDatabase { admin, name, url }
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop may run inside a test's runtime; the cleanup gets a thread and runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                let drop_db = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = runtime.block_on(admin_statement(&admin, &drop_db));
            }
        })
        .join();
    }
}
