//! TLS for `check_http` on https URLs: which certificates are trusted, the client
//! settings built from that, and the failure reasons an operator can act on.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where the system keeps its CA bundle (`SSL_CERT_FILE` first, as OpenSSL does):
/// RHEL and Fedora, Debian and Ubuntu, SUSE, Alpine.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Which certificates a probe accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's CA bundle.
    System,
    /// `check_tls_ca_file`: the CAs in that PEM file, read when the configuration is.
    CaFile { path: PathBuf, certificates: Vec<CertificateDer<'static>> },
    /// `check_tls_verify = false`: any certificate (expiry is still read for
    /// `check_tls_min_days`).
    Anything,
}

/// A probe's TLS settings: compared by what they say; the client they build is shared.
#[derive(Clone)]
pub struct Tls {
    pub trust: Trust,
    pub min_days: Option<u32>,
    client: Arc<ClientConfig>,
}

impl PartialEq for Tls {
    fn eq(&self, other: &Tls) -> bool {
        self.trust == other.trust && self.min_days == other.min_days
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("trust", &self.trust).field("min_days", &self.min_days).finish()
    }
}

impl Tls {
    /// Builds the client settings; `Err` says why in one line (no CA bundle, a CA
    /// file without certificates).
    pub fn new(trust: Trust, min_days: Option<u32>) -> Result<Tls, String> {
        let client = match &trust {
            Trust::System => shared(&SYSTEM, || client_trusting(system_roots()?))?,
            Trust::Anything => shared(&ANYTHING, client_trusting_anything)?,
            Trust::CaFile { certificates, .. } => client_trusting(roots_of(certificates)?)?,
        };
        Ok(Tls { trust, min_days, client })
    }

    pub fn client(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.client)
    }
}

static SYSTEM: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
static ANYTHING: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();

/// The system bundle is read once per process: a thousand https services share one
/// client (and one copy of its roots).
fn shared(
    cell: &'static OnceLock<Result<Arc<ClientConfig>, String>>,
    build: impl FnOnce() -> Result<Arc<ClientConfig>, String>,
) -> Result<Arc<ClientConfig>, String> {
    cell.get_or_init(build).clone()
}

/// The certificates in a PEM file, for `check_tls_ca_file`.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|err| format!("{} is not a PEM file: {err}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certificates)
}

fn system_roots() -> Result<RootCertStore, String> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let path = from_env
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            format!("no system CA bundle ({}): set check_tls_ca_file", SYSTEM_BUNDLES.join(", "))
        })?;
    roots_of(&read_ca_file(&path)?)
}

fn roots_of(certificates: &[CertificateDer<'static>]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates.iter().cloned());
    if added == 0 {
        return Err("no usable CA certificate".to_string());
    }
    Ok(roots)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn client_trusting(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(finish(config))
}

fn client_trusting_anything() -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let verifier = Arc::new(AcceptAnything(Arc::clone(&provider)));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(finish(config))
}

/// Every probe makes a full handshake: a resumed session skips the certificate, and
/// the point of probing is to see the certificate being served now.
fn finish(mut config: ClientConfig) -> Arc<ClientConfig> {
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

/// `check_tls_verify = false`: the handshake's signatures are still checked (the
/// connection is real TLS), the certificate chain is not.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A handshake error in the words an operator uses.
pub fn describe(err: &rustls::Error, server_name: &str) -> String {
    match err {
        rustls::Error::InvalidCertificate(why) => match why {
            CertificateError::UnknownIssuer => {
                format!("TLS: unknown CA: the certificate of {server_name} is not signed by a trusted CA")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("TLS: name mismatch: the certificate is not valid for {server_name}")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("TLS: the certificate of {server_name} has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("TLS: the certificate of {server_name} is not valid yet")
            }
            other => format!("TLS: bad certificate from {server_name}: {other:?}"),
        },
        other => format!("TLS handshake with {server_name} failed: {other}"),
    }
}

/// Whole days from `now` until `not_after` (both seconds since the epoch); negative
/// once expired.
pub fn days_left(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400)
}

/// `check_tls_min_days`: `Err` when the served certificate ends within `min_days`.
pub fn check_expiry(leaf: &[u8], min_days: u32, now: i64, server_name: &str) -> Result<(), String> {
    let not_after = super::der::not_after(leaf)
        .ok_or_else(|| format!("TLS: cannot read the expiry date of {server_name}'s certificate"))?;
    let left = days_left(not_after, now);
    if left < 0 {
        return Err(format!("TLS: the certificate of {server_name} expired {} days ago", -left));
    }
    if left < i64::from(min_days) {
        return Err(format!(
            "TLS: the certificate of {server_name} expires in {left} days (check_tls_min_days = {min_days})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_round_down_and_go_negative_after_expiry() {
        let day = 86_400;
        assert_eq!(days_left(10 * day, 0), 10);
        assert_eq!(days_left(10 * day - 1, 0), 9);
        assert_eq!(days_left(0, 1), -1);
        assert_eq!(days_left(0, 0), 0);
    }

    #[test]
    fn unreadable_certificates_fail_rather_than_pass() {
        let err = check_expiry(b"not a certificate", 7, 0, "www").unwrap_err();
        assert!(err.contains("cannot read the expiry date"), "{err}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "no certificates here\n").unwrap();
        assert!(read_ca_file(&path).unwrap_err().contains("holds no PEM certificate"));
        assert!(read_ca_file(&dir.path().join("missing.pem")).unwrap_err().starts_with("cannot read"));
    }
}
