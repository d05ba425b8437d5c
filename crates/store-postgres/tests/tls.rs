//! TLS to PostgreSQL as the URL's `sslmode` asks, with libpq's meanings, through a TLS frontend
//! to the real test server (its build has no OpenSSL; see `testing::TlsFrontend`): the verifying
//! modes accept the right authority and host name and refuse anything else with an error that
//! says why, the non-verifying ones still encrypt, and `disable` sends plain text, which a
//! TLS-only server refuses.

use tc_store::StoreHealth;
use tc_store_postgres::PgStore;
use tc_store_postgres::testing::{TestAuthority, TestDatabase, TlsFrontend};

async fn connect(url: &str) -> Result<PgStore, String> {
    PgStore::connect(url).await.map_err(|e| tc_store::error_chain(&e))
}

#[tokio::test]
async fn each_sslmode_encrypts_and_verifies_as_libpq_does() {
    let db = TestDatabase::create().await;
    let tls = TlsFrontend::start(db.url(), &["localhost"]);
    let ca = tls.ca_file().display().to_string();

    // verify-full: the chain leads to the given root and the name is on the certificate.
    let full = tls.url(db.url(), "localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let store = connect(&full).await.expect("verify-full with the right authority and name");
    store.ping().await.expect("a query over TLS");
    store.close().await;
    let after_full = tls.handshakes();
    assert!(after_full >= 1, "the connection went through the TLS frontend");

    // verify-ca: the right chain, whatever the name the server is reached by.
    let by_ip = tls.url(db.url(), "127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    connect(&by_ip).await.expect("verify-ca ignores the host name").close().await;

    // require and prefer (the default, no sslmode at all): encrypted, certificate unchecked.
    for query in ["sslmode=require", "sslmode=prefer", ""] {
        let before = tls.handshakes();
        let url = tls.url(db.url(), "127.0.0.1", query);
        let store = connect(&url).await.unwrap_or_else(|e| panic!("{query:?}: {e}"));
        store.ping().await.expect("a query");
        store.close().await;
        assert!(tls.handshakes() > before, "{query:?} negotiated TLS");
    }
}

#[tokio::test]
async fn a_server_that_fails_verification_is_refused_with_the_reason() {
    let db = TestDatabase::create().await;
    let tls = TlsFrontend::start(db.url(), &["localhost"]);
    let ca = tls.ca_file().display().to_string();

    // The name the server is reached by is not on its certificate.
    let wrong_name =
        tls.url(db.url(), "127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let err = connect(&wrong_name).await.expect_err("refused");
    assert!(err.contains("certificate") && err.contains("not valid for"), "{err}");

    // Signed by an authority other than the one given.
    let stranger = TestAuthority::new("someone else's CA");
    let other = stranger.ca_file().display().to_string();
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = tls.url(db.url(), "localhost", &format!("sslmode={mode}&sslrootcert={other}"));
        let err = connect(&url).await.expect_err(mode);
        assert!(err.contains("UnknownIssuer"), "{mode}: {err}");
    }

    // Plain text to a server that takes TLS only: its refusal reaches the operator.
    let plain = tls.url(db.url(), "localhost", "sslmode=disable");
    let err = connect(&plain).await.expect_err("refused");
    assert!(err.contains("no encryption"), "{err}");

    // A root file that is not a certificate.
    let not_pem = stranger.ca_file().with_file_name("not-a-cert.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let url = tls.url(
        db.url(),
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", not_pem.display()),
    );
    let err = connect(&url).await.expect_err("refused");
    assert!(err.contains("no PEM certificate"), "{err}");
}
