//! TLS for the gRPC listener, from the PEM files named in [`TlsConfig`],
//! and for HTTPS clients of public endpoints.

use anyhow::Context as _;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::TlsConfig;

/// The server TLS settings, or `None` when TLS is off.
pub fn server_config(tls: &TlsConfig) -> anyhow::Result<Option<ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
        return Ok(None);
    };
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).with_context(|| format!("reading the TLS {what} {}", path.display()))
    };
    let cert_pem = read(cert, "certificate")?;
    record_expiry("server", cert, &cert_pem, Expiry::Leaf);
    let identity = Identity::from_pem(cert_pem, read(key, "key")?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &tls.client_ca_file {
        let ca_pem = read(ca, "client CA")?;
        record_expiry("client_ca", ca, &ca_pem, Expiry::Earliest);
        config = config
            .client_ca_root(Certificate::from_pem(ca_pem))
            .client_auth_optional(false);
    }
    Ok(Some(config))
}

/// Which certificate of a PEM file an expiry is read from.
#[derive(Debug, Clone, Copy)]
enum Expiry {
    /// The first: the leaf of a chain.
    Leaf,
    /// The one that expires first: of a bundle of CAs.
    Earliest,
}

/// Sets `tls_certificate_expiry_timestamp_seconds{certificate}` from
/// `pem`. A file that cannot be read as X.509 here is left to the TLS
/// stack to refuse; the metric is then missing, which is logged.
fn record_expiry(certificate: &'static str, path: &std::path::Path, pem: &[u8], which: Expiry) {
    match not_after(pem, which) {
        Ok(seconds) => {
            metrics::gauge!("tls_certificate_expiry_timestamp_seconds", "certificate" => certificate)
                .set(seconds as f64);
        }
        Err(error) => tracing::warn!(
            file = %path.display(),
            error = format!("{error:#}"),
            "cannot read the certificate's expiry; tls_certificate_expiry_timestamp_seconds is not reported for it"
        ),
    }
}

/// The notAfter (Unix seconds) of the leaf, or the earliest, of the
/// certificates in `pem`.
///
/// The PEM sections are read as rustls reads them (text around them, as
/// `openssl x509 -text` leaves, is skipped); each certificate is then
/// decoded from DER.
fn not_after(pem: &[u8], which: Expiry) -> anyhow::Result<u64> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    use x509_cert::der::Decode as _;
    let mut times = Vec::new();
    for der in CertificateDer::pem_slice_iter(pem) {
        let der = der.context("reading the PEM sections")?;
        let cert =
            x509_cert::Certificate::from_der(der.as_ref()).context("decoding a certificate")?;
        times.push(
            cert.tbs_certificate
                .validity
                .not_after
                .to_unix_duration()
                .as_secs(),
        );
    }
    let times = times.into_iter();
    match which {
        Expiry::Leaf => times.take(1).next(),
        Expiry::Earliest => times.min(),
    }
    .context("the file holds no certificate")
}

/// TLS for an HTTPS client of public endpoints (webhooks, a hosted
/// language model): ring, the safe default protocol versions, and the
/// Mozilla roots (`webpki-roots`), so no system store is read.
pub fn public_client_config() -> anyhow::Result<rustls::ClientConfig> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::{Expiry, not_after};

    /// A self-signed certificate valid from 2024-01-01 to 2034-01-01 and a
    /// second one to 2030-01-01 (made with `openssl req -x509`).
    const LONG: &str = include_str!("../testdata/cert-2034.pem");
    const SHORT: &str = include_str!("../testdata/cert-2030.pem");

    #[test]
    fn expiry_is_read_from_the_leaf_or_the_earliest() {
        let bundle = format!("{LONG}{SHORT}");
        assert_eq!(
            not_after(bundle.as_bytes(), Expiry::Leaf).expect("leaf"),
            2_019_686_400
        );
        assert_eq!(
            not_after(bundle.as_bytes(), Expiry::Earliest).expect("earliest"),
            1_893_456_000
        );
        assert!(not_after(b"not a certificate", Expiry::Leaf).is_err());
        assert!(not_after(b"", Expiry::Earliest).is_err());
        assert!(not_after(b"\r\n\n", Expiry::Leaf).is_err());
        // Text around the sections, as `openssl x509 -text` writes, is
        // skipped as rustls skips it.
        let annotated = format!("Certificate:\n    Data: ...\n{SHORT}\nsubject=CN = x\n{LONG}");
        assert_eq!(
            not_after(annotated.as_bytes(), Expiry::Leaf).expect("leaf"),
            1_893_456_000
        );
    }
}
