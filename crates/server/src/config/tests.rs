//! The loader's tests: defaults, each bad value named, file then environment, the README's
//! table.

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The README's table is the settings' own metadata; a setting added without its row, or a
/// row left behind, fails here.
#[test]
fn the_readme_lists_every_setting() {
    let readme = include_str!("../../../../README.md");
    let table = markdown_table();
    assert!(
        readme.contains(&table),
        "README.md's configuration table differs from the settings; it should read:\n{table}"
    );
    let c = Config::from_sources(None, &env(&[("AUTH_CACHE_TTL_MS", "0")])).unwrap();
    assert_eq!(c.auth_cache_ttl_ms, 0);
}

#[test]
fn postgres_urls_need_a_shared_jwt_secret_and_encryption_key() {
    let url = ("DATABASE_URL", "postgres://tc:pw@db.internal:5432/teamcontext");
    let err = Config::from_sources(None, &env(&[url])).unwrap_err().to_string();
    assert!(err.contains("ENCRYPTION_KEY"), "{err}");
    let key = ("ENCRYPTION_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let err = Config::from_sources(None, &env(&[url, key])).unwrap_err().to_string();
    assert!(err.contains("JWT_SECRET_KEY"), "{err}");
    let secret = ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef");
    let c = Config::from_sources(None, &env(&[url, key, secret])).unwrap();
    assert_eq!(c.encryption_key.unwrap().0[31], 31);
    assert!(matches!(c.database, DatabaseConfig::Postgres { .. }));
    // Logs name the host, never the password.
    assert_eq!(c.database.describe(), "postgres://db.internal:5432/teamcontext");
}

#[test]
fn redis_urls_may_use_tls_with_a_private_authority() {
    let tls = ("REDIS_URL", "rediss://cache.internal:6380/0");
    let ca = ("REDIS_CA_FILE", "/etc/teamcontext/redis-ca.pem");
    let c = Config::from_sources(None, &env(&[tls, ca])).unwrap();
    assert_eq!(c.redis_url.unwrap().0, "rediss://cache.internal:6380/0");
    assert_eq!(c.redis_ca_file.unwrap(), Path::new("/etc/teamcontext/redis-ca.pem"));
    let plain = ("REDIS_URL", "redis://cache.internal:6379");
    let err = Config::from_sources(None, &env(&[plain, ca])).unwrap_err().to_string();
    assert!(err.contains("REDIS_CA_FILE") && err.contains("rediss://"), "{err}");
    let other = ("REDIS_URL", "http://cache.internal");
    let err = Config::from_sources(None, &env(&[other])).unwrap_err().to_string();
    assert!(err.contains("REDIS_URL"), "{err}");
}

#[test]
fn defaults() {
    let c = Config::from_sources(None, &env(&[])).unwrap();
    assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
    assert!(
        matches!(&c.database, DatabaseConfig::Sqlite { path } if path == Path::new("./data/teamcontext.db"))
    );
    assert_eq!(c.rate_limits.per_key_per_min, 100);
    assert_eq!(c.rate_limits.per_key_burst, 120);
    assert_eq!(c.email_verification, EmailVerification::Off);
    assert_eq!(c.price_per_mtok, 3.0);
    assert!(matches!(c.embedding, EmbeddingConfig::Local { .. }));
    assert_eq!(c.registration, Registration::Open, "on a loopback address");
    assert!(c.trusted_proxies.is_empty());
}

#[test]
fn a_server_others_reach_registers_by_invitation_unless_told_otherwise() {
    let public = ("BIND_ADDR", "0.0.0.0:8080");
    let c = Config::from_sources(None, &env(&[public])).unwrap();
    assert_eq!(c.registration, Registration::Invite);
    let c = Config::from_sources(None, &env(&[public, ("REGISTRATION", "open")])).unwrap();
    assert_eq!(c.registration, Registration::Open);
    let c = Config::from_sources(None, &env(&[("REGISTRATION", "closed")])).unwrap();
    assert_eq!(c.registration, Registration::Closed);
}

#[test]
fn trusted_proxies_are_addresses_and_networks() {
    let list = ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7 ,fd00::/8");
    let c = Config::from_sources(None, &env(&[list])).unwrap();
    let nets: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]);
}

#[test]
fn openai_embedding_needs_its_settings() {
    let err = Config::from_sources(None, &env(&[("EMBEDDING_PROVIDER", "openai")])).unwrap_err();
    assert!(err.to_string().contains("EMBEDDING_BASE_URL"), "{err}");
    let c = Config::from_sources(
        None,
        &env(&[
            ("EMBEDDING_PROVIDER", "openai"),
            ("EMBEDDING_BASE_URL", "http://127.0.0.1:11434/v1"),
            ("EMBEDDING_MODEL", "nomic-embed-text"),
            ("EMBEDDING_DIMENSION", "768"),
            ("LLM_PRICES", "local-llama=0, gpt-4o=2.5"),
            ("DEFAULT_LLM_MODEL", "gpt-4o"),
        ]),
    )
    .unwrap();
    assert!(matches!(c.embedding, EmbeddingConfig::OpenAi { dimension: 768, .. }));
    assert_eq!(c.price_per_mtok, 2.5);
}

#[test]
fn bad_values_name_their_variable() {
    for (name, value) in [
        ("BIND_ADDR", "localhost"),
        ("ACCESS_TOKEN_TTL_SECS", "-5"),
        ("EMAIL_VERIFICATION", "sometimes"),
        ("JWT_SECRET_KEY", "short"),
        ("DATABASE_URL", "mysql://x"),
        ("ALLOWED_ORIGINS", "example.com"),
        ("RATE_LIMIT_PER_IP_PER_MIN", "lots"),
        ("LOG_FORMAT", "xml"),
        ("EMBEDDING_PROVIDER", "magic"),
        ("EMBEDDING_PRECISION", "fp16"),
        ("DEFAULT_LLM_MODEL", "gpt-9"),
        ("LLM_PRICES", "gpt-9"),
        ("REGISTRATION", "sometimes"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "proxy.internal"),
        ("MAX_BODY_BYTES", "5"),
        ("CONTEXT_CHUNK_TOKENS", "999"),
        ("JOB_WORKERS", "many"),
        ("MCP_ALLOWED_HOSTS", "evil.example/path"),
    ] {
        let err = Config::from_sources(None, &env(&[(name, value)])).unwrap_err().to_string();
        assert!(err.contains(name), "{err} should name {name}");
        if !["JWT_SECRET_KEY", "DATABASE_URL"].contains(&name) {
            assert!(err.contains(value), "{err} should quote {value:?}");
        }
    }
    // A secret is never repeated back, even when it is wrong.
    let err = Config::from_sources(None, &env(&[("JWT_SECRET_KEY", "hunter2-secret")]))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "invalid JWT_SECRET_KEY: must be at least 32 bytes");
    let err = Config::from_sources(None, &env(&[("ENCRYPTION_KEY", "c2hvcnQ=")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ENCRYPTION_KEY") && !err.contains("c2hvcnQ"), "{err}");
    let err = Config::from_sources(None, &env(&[("DATABASE_URL", "mysql://root:pw@db")]))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("pw@db"), "{err}");
}

#[test]
fn file_then_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tc.toml");
    std::fs::write(&path, "bind_addr = \"0.0.0.0:9000\"\nrate_limit_per_ip_per_min = 7\n").unwrap();
    let c = Config::from_sources(Some(&path), &env(&[("RATE_LIMIT_PER_IP_PER_MIN", "9")])).unwrap();
    assert_eq!(c.bind_addr.to_string(), "0.0.0.0:9000");
    assert_eq!(c.rate_limits.per_ip_per_min, 9, "environment wins");

    std::fs::write(&path, "bind_adr = \"x\"\n").unwrap();
    let err = Config::from_sources(Some(&path), &env(&[])).unwrap_err().to_string();
    assert!(err.contains("bind_adr"), "{err}");
    assert!(
        format!(
            "{:?}",
            Config::from_sources(None, &env(&[("JWT_SECRET_KEY", &"s".repeat(40))])).unwrap()
        )
        .contains("<hidden>")
    );
}
