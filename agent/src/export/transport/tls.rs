//! TLS of the collector exporters (feature `tls`): the trust roots and client certificate of
//! the `OTEL_EXPORTER_OTLP_*CERTIFICATE` / `*CLIENT_KEY` files ([`TlsFiles`]), for rustls
//! (HTTP) and tonic (gRPC), and [`hint`]: the variable to fix when a handshake fails over a
//! certificate. Every file is read once, when the sink is built, at most [`MAX_PEM`] bytes.

#[cfg(feature = "tls")]
use super::SendError;
#[cfg(feature = "tls")]
use crate::config::TlsFile;
use crate::config::{
    OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY, TlsFiles,
};
#[cfg(feature = "tls")]
use rustls::pki_types::pem::PemObject;
#[cfg(feature = "tls")]
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The largest TLS file read (a CA bundle of the whole web is about 250 KB).
#[cfg(feature = "tls")]
const MAX_PEM: u64 = 1 << 20;

#[cfg(feature = "tls")]
fn bad(f: &TlsFile, problem: impl std::fmt::Display) -> SendError {
    SendError::new(format!(
        "TLS: {}={}: {problem}",
        f.var,
        crate::base::text::path(&f.path)
    ))
}

/// The bytes of `f`, bounded.
#[cfg(feature = "tls")]
fn read(f: &TlsFile) -> Result<Vec<u8>, SendError> {
    use std::io::Read;
    let file = std::fs::File::open(&f.path).map_err(|e| bad(f, format!("cannot open it: {e}")))?;
    let mut pem = Vec::new();
    file.take(MAX_PEM + 1)
        .read_to_end(&mut pem)
        .map_err(|e| bad(f, format!("cannot read it: {e}")))?;
    if pem.len() as u64 > MAX_PEM {
        return Err(bad(f, "is over 1 MiB, not a PEM file"));
    }
    Ok(pem)
}

/// The certificates of a PEM file: at least one.
#[cfg(feature = "tls")]
fn certificates(f: &TlsFile) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), SendError> {
    let pem = read(f)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(f, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad(f, "holds no PEM certificate"));
    }
    Ok((pem, certs))
}

/// The client certificate chain and key, when both are set, as PEM and parsed.
#[cfg(feature = "tls")]
type Client = (
    Vec<u8>,
    Vec<CertificateDer<'static>>,
    Vec<u8>,
    PrivateKeyDer<'static>,
);

#[cfg(feature = "tls")]
fn client(files: &TlsFiles) -> Result<Option<Client>, SendError> {
    let (Some(cert), Some(key)) = (&files.client_certificate, &files.client_key) else {
        return Ok(None);
    };
    let (cert_pem, chain) = certificates(cert)?;
    let key_pem = read(key)?;
    let parsed = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(key, format!("not a PEM private key: {e}")))?;
    Ok(Some((cert_pem, chain, key_pem, parsed)))
}

/// rustls with an explicit ring provider (the process-wide default provider is the
/// application's to set, never a library's): the CA file's roots when one is set, else the
/// platform's verifier; the client certificate when one is set.
#[cfg(all(feature = "export-http", feature = "tls"))]
pub(super) fn rustls_config(files: &TlsFiles) -> Result<rustls::ClientConfig, SendError> {
    use std::sync::Arc;
    let tls = |e: rustls::Error| SendError::new(format!("TLS: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls)?;
    let builder = match &files.certificate {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca)?.1 {
                roots.add(cert).map_err(|e| bad(ca, e))?;
            }
            builder.with_root_certificates(roots)
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(tls)?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        }
    };
    let mut config = match client(files)? {
        Some((_, chain, _, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            let cert = files.client_certificate.as_ref();
            SendError::new(format!(
                "TLS: {} and {} do not make a client certificate: {e}",
                cert.map_or(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, |f| f.var),
                files
                    .client_key
                    .as_ref()
                    .map_or(OTEL_EXPORTER_OTLP_CLIENT_KEY, |f| f.var),
            ))
        })?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// tonic's TLS: the CA file's roots when one is set, else the system's; the client
/// certificate when one is set. HTTP/2 is assumed when the server names no ALPN protocol (a
/// TLS terminator in front of the collector often does not).
#[cfg(all(feature = "export-grpc", feature = "tls"))]
pub(super) fn tonic_config(
    files: &TlsFiles,
) -> Result<tonic::transport::ClientTlsConfig, SendError> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let mut config = ClientTlsConfig::new().assume_http2(true);
    config = match &files.certificate {
        Some(ca) => config.ca_certificate(Certificate::from_pem(certificates(ca)?.0)),
        None => config.with_native_roots(),
    };
    if let Some((cert, _, key, _)) = client(files)? {
        config = config.identity(Identity::from_pem(cert, key));
    }
    Ok(config)
}

/// What to fix when `message` (a failure's text, sources included) says a TLS handshake
/// failed over a certificate: the variable to set or check, or `None` for any other failure.
pub(super) fn hint(message: &str, files: &TlsFiles) -> Option<String> {
    let shown =
        |f: &crate::config::TlsFile| format!("{}={}", f.var, crate::base::text::path(&f.path));
    let untrusted = ["UnknownIssuer", "invalid peer certificate", "BadSignature"];
    let refused = [
        "CertificateRequired",
        "BadCertificate",
        "UnknownCA",
        "CertificateUnknown",
        "AccessDenied",
        "HandshakeFailure",
    ];
    if untrusted.iter().any(|s| message.contains(s)) {
        return Some(match &files.certificate {
            Some(ca) => format!(
                "the collector's certificate is not signed by a CA of {}: set it to the PEM \
                 file of the CA that signed the collector's certificate",
                shown(ca)
            ),
            None => format!(
                "the collector's certificate is not trusted by the system's trust store: set \
                 {OTEL_EXPORTER_OTLP_CERTIFICATE} to the PEM file of the CA that signed it"
            ),
        });
    }
    if message.contains("alert") && refused.iter().any(|s| message.contains(s)) {
        // A TLS 1.2 server says HandshakeFailure for more than a missing certificate.
        let maybe = message.contains("HandshakeFailure");
        return Some(match (&files.client_certificate, maybe) {
            (Some(cert), _) => format!(
                "the collector refused the client certificate {}: check that its CA is one \
                 the collector trusts",
                shown(cert)
            ),
            (None, false) => format!(
                "the collector asks for a client certificate: set \
                 {OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE} and {OTEL_EXPORTER_OTLP_CLIENT_KEY}"
            ),
            (None, true) => format!(
                "the collector refused the handshake; if it asks for a client certificate, \
                 set {OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE} and {OTEL_EXPORTER_OTLP_CLIENT_KEY}"
            ),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TlsFile;

    #[test]
    fn a_certificate_failure_names_the_variable_to_fix() {
        let none = TlsFiles::default();
        let ca = TlsFiles {
            certificate: Some(TlsFile {
                path: "/tmp/ca.pem".into(),
                var: "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            }),
            ..TlsFiles::default()
        };
        let untrusted = "TLS handshake with 127.0.0.1: invalid peer certificate: UnknownIssuer";
        assert!(
            hint(untrusted, &ca).unwrap().contains(
                "not signed by a CA of OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE=/tmp/ca.pem"
            )
        );
        assert!(
            hint(untrusted, &none)
                .unwrap()
                .contains("set OTEL_EXPORTER_OTLP_CERTIFICATE")
        );
        let refused = "connection error: received fatal alert: CertificateRequired";
        assert!(hint(refused, &none).unwrap().contains(
            "set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"
        ));
        assert_eq!(
            hint("cannot connect to 127.0.0.1:9: Connection refused", &ca),
            None
        );
    }
}
