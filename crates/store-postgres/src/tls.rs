//! TLS for connections to PostgreSQL, with the meanings libpq gives the URL's `sslmode` and
//! `sslrootcert`, so that a URL copied from a hosting provider's console works as it does in
//! `psql`:
//!
//! | `sslmode` | TLS | server certificate |
//! | --- | --- | --- |
//! | `disable` | never | — |
//! | `allow`, `prefer` (the default) | when the server offers it | checked against `sslrootcert` if given, else not checked |
//! | `require` | always | as `prefer` |
//! | `verify-ca` | always | chain checked against `sslrootcert` (or the system's roots) |
//! | `verify-full` | always | chain and host name checked |
//!
//! `sslrootcert=system` (as in libpq 16) means the system's roots and implies `verify-full`.
//! The system's roots are the platform's store, or the file `SSL_CERT_FILE` names. The
//! handshake's signatures are always checked: a mode that skips the certificate check still
//! gets a connection only the certificate's key holder can read.
//!
//! tokio-postgres knows neither the verifying modes nor `sslrootcert`, so both are taken out of
//! the URL here and what remains goes to its parser.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tc_store::{StoreError, StoreResult};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// A parsed `DATABASE_URL`: the driver's configuration and the TLS connector its mode needs.
pub(crate) struct Connection {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

fn invalid(reason: impl std::fmt::Display) -> StoreError {
    StoreError::database(format!("DATABASE_URL: {reason}"))
}

/// Parses `url` and builds the TLS connector for its `sslmode`.
pub(crate) fn connection(url: &str) -> StoreResult<Connection> {
    let mut parsed = url::Url::parse(url).map_err(invalid)?;
    let mut mode = None;
    let mut root = None;
    let mut rest = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match &*key {
            "sslmode" => mode = Some(value.into_owned()),
            "sslrootcert" => root = Some(value.into_owned()),
            _ => rest.push((key.into_owned(), value.into_owned())),
        }
    }
    if rest.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(rest);
    }
    let mut config: tokio_postgres::Config = parsed.as_str().parse().map_err(invalid)?;

    let system_roots = root.as_deref() == Some("system");
    let (ssl_mode, check) = match mode.as_deref() {
        None if system_roots => (SslMode::Require, Check::ChainAndName),
        None | Some("allow" | "prefer") => (SslMode::Prefer, Check::Nothing),
        Some("disable") => (SslMode::Disable, Check::Nothing),
        Some("require") => (SslMode::Require, Check::Nothing),
        Some("verify-ca") => (SslMode::Require, Check::Chain),
        Some("verify-full") => (SslMode::Require, Check::ChainAndName),
        Some(other) => {
            return Err(invalid(format!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    if system_roots && !matches!(check, Check::ChainAndName) {
        return Err(invalid("sslrootcert=system needs sslmode=verify-full (or no sslmode)"));
    }
    // As libpq: a root certificate given to a non-verifying mode makes it check the chain.
    let check = if check == Check::Nothing && root.is_some() { Check::Chain } else { check };
    config.ssl_mode(ssl_mode);

    let roots = match root.as_deref() {
        Some(path) if path != "system" => roots_from_file(path)?,
        _ if check == Check::Nothing => RootCertStore::empty(),
        _ => system_roots_store()?,
    };
    let tls = MakeRustlsConnect::new(client_config(check, roots)?);
    Ok(Connection { config, tls })
}

fn client_config(check: Check, roots: RootCertStore) -> StoreResult<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(invalid)?;
    if check == Check::ChainAndName {
        return Ok(builder.with_root_certificates(roots).with_no_client_auth());
    }
    let chain = match check {
        Check::Chain => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(invalid)?,
        ),
        _ => None,
    };
    let verifier = Partial { chain, algorithms: provider.signature_verification_algorithms };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

fn roots_from_file(path: &str) -> StoreResult<RootCertStore> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("sslrootcert {path}: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(format!("sslrootcert {path}: no PEM certificate in it")));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| invalid(format!("sslrootcert {path}: {e}")))?;
    }
    Ok(roots)
}

fn system_roots_store() -> StoreResult<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map(ToString::to_string).unwrap_or_default();
        return Err(invalid(format!(
            "no system root certificate could be loaded to verify the server ({why}); \
             name one with sslrootcert=FILE"
        )));
    }
    Ok(roots)
}

/// The modes that check less than `verify-full`: `verify-ca` (`chain` set: the chain must lead
/// to a trusted root, whatever host name it was issued for) and `prefer` / `require` without a
/// root (`chain` unset: any certificate). Either way the handshake's signatures are checked
/// against the certificate presented.
#[derive(Debug)]
struct Partial {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Partial {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        // webpki checks the chain first and the name last, so a name error means the chain
        // passed.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> SslMode {
        connection(url).map(|c| c.config.get_ssl_mode()).expect("a valid URL")
    }

    #[test]
    fn sslmode_follows_libpq() {
        assert_eq!(mode("postgres://u@h/db"), SslMode::Prefer);
        assert_eq!(mode("postgres://u@h/db?sslmode=disable"), SslMode::Disable);
        assert_eq!(mode("postgres://u@h/db?sslmode=allow"), SslMode::Prefer);
        assert_eq!(mode("postgres://u@h/db?sslmode=require&connect_timeout=5"), SslMode::Require);
    }

    #[test]
    fn other_parameters_reach_the_driver() {
        let c = connection("postgres://u:p@h:6543/db?sslmode=require&application_name=tc")
            .expect("a valid URL");
        assert_eq!(c.config.get_application_name(), Some("tc"));
        assert_eq!(c.config.get_dbname(), Some("db"));
        assert_eq!(c.config.get_ports(), &[6543]);
    }

    #[test]
    fn bad_tls_settings_are_named() {
        let err = |url: &str| connection(url).err().expect("refused").to_string();
        assert!(err("postgres://u@h/db?sslmode=verify").contains("sslmode=verify is not one of"));
        assert!(
            err("postgres://u@h/db?sslmode=require&sslrootcert=system").contains("verify-full")
        );
        let missing = err("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        assert!(missing.contains("sslrootcert /nonexistent/ca.pem"), "{missing}");
    }
}
