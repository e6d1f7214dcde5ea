//! TLS of the collector exporters (feature `tls`): the trust roots and client certificate of
//! the `OTEL_EXPORTER_OTLP_*CERTIFICATE` / `*CLIENT_KEY` files ([`TlsFiles`]), for rustls
//! (HTTP) and tonic (gRPC), and [`advice`]: one sentence for each rustls error, naming the
//! variable to fix. Every file is read once, when the sink is built, at most [`MAX_PEM`] bytes.

#[cfg(feature = "tls")]
use super::SendError;
#[cfg(feature = "tls")]
use crate::config::TlsFile;
use crate::config::TlsFiles;
#[cfg(feature = "tls")]
use crate::config::{
    OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
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

/// What to fix when `e`, or an error among its sources, is a TLS failure: one sentence for
/// each rustls error, naming the variable to set or check; `None` for any other failure. The
/// same over HTTP (tokio-rustls) and gRPC (tonic's rustls), whichever layer wraps it.
#[cfg(feature = "tls")]
pub(super) fn advice(e: &(dyn std::error::Error + 'static), files: &TlsFiles) -> Option<String> {
    use rustls::{CertificateError as C, Error as E};
    let recovered;
    let error = match rustls_error(e) {
        Some(error) => error,
        None => {
            recovered = E::AlertReceived(alert_in_text(e)?);
            &recovered
        }
    };
    Some(match error {
        E::InvalidCertificate(c) => match c {
            C::UnknownIssuer => match &files.certificate {
                Some(ca) => format!(
                    "the collector's certificate is not signed by a CA of {}: set it to the \
                     PEM file of the CA that signed the collector's certificate",
                    shown(ca)
                ),
                None => format!(
                    "the collector's certificate is not trusted by the system's trust store: \
                     set {OTEL_EXPORTER_OTLP_CERTIFICATE} to the PEM file of the CA that \
                     signed it"
                ),
            },
            #[allow(deprecated)]
            C::BadSignature
            | C::UnsupportedSignatureAlgorithm
            | C::UnsupportedSignatureAlgorithmContext { .. }
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => format!(
                "the signature on the collector's certificate does not verify against the CA \
                 it names ({c}): the certificate was signed by another key of that name, or \
                 with an algorithm rustls does not take; check {}",
                trust(files)
            ),
            C::Expired => "the collector's certificate has expired: renew it on the collector \
                           (the CA is not the problem)"
                .to_owned(),
            C::ExpiredContext { time, not_after } => format!(
                "the collector's certificate expired at {} (this machine's clock reads {}): \
                 renew it on the collector (the CA is not the problem)",
                utc(not_after.as_secs()),
                utc(time.as_secs())
            ),
            C::NotValidYet => "the collector's certificate is not valid yet: check this \
                               machine's clock and the certificate's start date"
                .to_owned(),
            C::NotValidYetContext { time, not_before } => format!(
                "the collector's certificate is not valid before {} and this machine's clock \
                 reads {}: check the clock here or the certificate's start date",
                utc(not_before.as_secs()),
                utc(time.as_secs())
            ),
            C::NotValidForName => "the collector's certificate is not for the host name of \
                                   the endpoint: use a name the certificate holds, or reissue \
                                   it with that name in its subjectAltName"
                .to_owned(),
            C::NotValidForNameContext {
                expected,
                presented,
            } => {
                let expected = server_name(expected);
                let held = if presented.is_empty() {
                    "no name (no subjectAltName)".to_owned()
                } else {
                    presented.join(", ")
                };
                format!(
                    "the collector's certificate is for {}, not {expected}: put a name it \
                     holds in the endpoint URL, or reissue it with {expected} in its \
                     subjectAltName",
                    crate::base::text::shown(&held, 120, false)
                )
            }
            C::Revoked => "the collector's certificate is revoked: the collector needs a new \
                           one"
            .to_owned(),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                "the collector's certificate is not for TLS servers (its extendedKeyUsage \
                 lacks serverAuth): reissue it for serverAuth"
                    .to_owned()
            }
            other => format!("the collector's certificate cannot be used: {other}"),
        },
        E::AlertReceived(alert) => refused(*alert, files),
        E::NoCertificatesPresented => "the collector presented no certificate".to_owned(),
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => {
            "the collector does not answer in TLS on that port: if it serves plain HTTP or \
             gRPC there, use an http:// endpoint"
                .to_owned()
        }
        E::PeerIncompatible(p) => format!(
            "the collector's TLS has nothing in common with rustls ({p:?}): it needs TLS 1.2 \
             or 1.3 with a current cipher suite"
        ),
        _ => return None,
    })
}

/// The sentence of an alert the collector sent during or right after the handshake (under
/// TLS 1.3 a missing or refused client certificate is told after it, at the first read).
#[cfg(feature = "tls")]
fn refused(alert: rustls::AlertDescription, files: &TlsFiles) -> String {
    use rustls::AlertDescription as A;
    let set_client =
        format!("set {OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE} and {OTEL_EXPORTER_OTLP_CLIENT_KEY}");
    match (alert, &files.client_certificate) {
        (A::CertificateRequired, None) => {
            format!("the collector asks for a client certificate: {set_client}")
        }
        (A::CertificateRequired, Some(cert)) => format!(
            "the collector says no client certificate came although {} is set: check that it \
             is a certificate for TLS clients (extendedKeyUsage clientAuth)",
            shown(cert)
        ),
        (A::CertificateExpired, Some(cert)) => format!(
            "the collector says the client certificate {} has expired: renew it",
            shown(cert)
        ),
        (A::CertificateRevoked, Some(cert)) => format!(
            "the collector says the client certificate {} is revoked",
            shown(cert)
        ),
        (
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::DecryptError,
            Some(cert),
        ) => format!(
            "the collector refused the client certificate {} ({alert:?}): check that it is \
             signed by a CA the collector trusts and meant for TLS clients",
            shown(cert)
        ),
        (A::HandshakeFailure, Some(cert)) => format!(
            "the collector refused the handshake (HandshakeFailure): it refused the client \
             certificate {}, or shares no TLS version or cipher suite with rustls",
            shown(cert)
        ),
        // A TLS 1.2 server says HandshakeFailure (or another alert) for a missing client
        // certificate too.
        (
            A::HandshakeFailure
            | A::BadCertificate
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::UnsupportedCertificate,
            None,
        ) => format!(
            "the collector refused the handshake ({alert:?}); if it asks for a client \
             certificate, {set_client}"
        ),
        (A::ProtocolVersion, _) => {
            "the collector takes no TLS version rustls speaks (1.2, 1.3)".to_owned()
        }
        (other, _) => format!("the collector ended the handshake with the alert {other:?}"),
    }
}

/// Where the collector's certificate is checked: `OTEL_EXPORTER_OTLP_CERTIFICATE=...` or the
/// system's trust store.
#[cfg(feature = "tls")]
fn trust(files: &TlsFiles) -> String {
    files.certificate.as_ref().map_or_else(
        || format!("the system's trust store, or set {OTEL_EXPORTER_OTLP_CERTIFICATE}"),
        shown,
    )
}

#[cfg(feature = "tls")]
fn shown(f: &TlsFile) -> String {
    format!("{}={}", f.var, crate::base::text::path(&f.path))
}

#[cfg(feature = "tls")]
fn server_name(name: &rustls::pki_types::ServerName<'_>) -> String {
    use rustls::pki_types::ServerName;
    match name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// The rustls error among `e` and its sources. An `io::Error` wrapping one shows the inner
/// error's sources, not the inner error itself, so each is looked into.
#[cfg(feature = "tls")]
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && let Some(r) = rustls_error(inner)
        {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

/// The alert of an error whose rustls error survives only as its text: h2 keeps an I/O
/// error's kind and message, not the error, so over gRPC an alert after the handshake (a
/// missing client certificate under TLS 1.3) arrives as `received fatal alert:
/// CertificateRequired`. The name is matched against rustls' own names of every alert.
#[cfg(feature = "tls")]
fn alert_in_text(e: &(dyn std::error::Error + 'static)) -> Option<rustls::AlertDescription> {
    let mut cur = Some(e);
    while let Some(e) = cur {
        let text = e.to_string();
        if let Some((_, after)) = text.split_once("received fatal alert: ") {
            let name: String = after
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            return (0..=u8::MAX)
                .map(rustls::AlertDescription::from)
                .find(|a| format!("{a:?}") == name);
        }
        cur = e.source();
    }
    None
}

/// Seconds since 1970 as `2026-12-06 01:22:10 UTC`.
#[cfg(feature = "tls")]
fn utc(secs: u64) -> String {
    // Howard Hinnant's civil_from_days.
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Without the `tls` feature there is no TLS to explain.
#[cfg(not(feature = "tls"))]
pub(super) fn advice(_: &(dyn std::error::Error + 'static), _: &TlsFiles) -> Option<String> {
    None
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};

    fn file(path: &str, var: &'static str) -> Option<TlsFile> {
        Some(TlsFile {
            path: path.into(),
            var,
        })
    }

    /// The advice for `e` as tokio-rustls hands it over: inside an `io::Error`.
    fn said(e: E, files: &TlsFiles) -> String {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        advice(&io, files).expect("a TLS failure")
    }

    #[test]
    fn each_certificate_failure_gets_its_own_sentence() {
        let none = TlsFiles::default();
        let ca = TlsFiles {
            certificate: file("/tmp/ca.pem", "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE"),
            ..TlsFiles::default()
        };
        let unknown = E::InvalidCertificate(C::UnknownIssuer);
        assert!(
            said(unknown.clone(), &ca).contains(
                "not signed by a CA of OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE=/tmp/ca.pem"
            )
        );
        assert!(said(unknown, &none).contains("set OTEL_EXPORTER_OTLP_CERTIFICATE"));
        let expired = E::InvalidCertificate(C::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                1_796_606_530,
            )),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(
                std::time::Duration::from_secs(784_111_777),
            ),
        });
        let text = said(expired, &ca);
        assert!(
            text.contains("expired at 1994-11-06 08:49:37 UTC")
                && text.contains("reads 2026-12-07 01:22:10 UTC")
                && !text.contains("not signed"),
            "{text}"
        );
        let name = E::InvalidCertificate(C::NotValidForNameContext {
            expected: rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            presented: vec!["DnsName(\"other.example\")".into()],
        });
        let text = said(name, &ca);
        assert!(
            text.contains("is for DnsName(\"other.example\"), not 127.0.0.1")
                && !text.contains("not signed"),
            "{text}"
        );
        let texts: Vec<String> = [
            C::BadSignature,
            C::NotValidYet,
            C::Revoked,
            C::InvalidPurpose,
            C::BadEncoding,
        ]
        .into_iter()
        .map(|c| said(E::InvalidCertificate(c), &ca))
        .collect();
        for (i, t) in texts.iter().enumerate() {
            assert!(!texts[..i].contains(t), "{t} twice");
        }
    }

    #[test]
    fn a_refused_client_certificate_names_what_to_set() {
        let none = TlsFiles::default();
        let client = TlsFiles {
            client_certificate: file("/tmp/client.pem", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
            client_key: file("/tmp/client.key", "OTEL_EXPORTER_OTLP_CLIENT_KEY"),
            ..TlsFiles::default()
        };
        assert_eq!(
            said(E::AlertReceived(A::CertificateRequired), &none),
            "the collector asks for a client certificate: set \
             OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"
        );
        assert!(
            said(E::AlertReceived(A::UnknownCA), &client)
                .contains("refused the client certificate OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/tmp/client.pem (UnknownCA)")
        );
        assert!(said(E::AlertReceived(A::HandshakeFailure), &none).contains("if it asks"));
        // Plaintext where TLS was expected.
        assert!(
            said(
                E::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                &none
            )
            .contains("use an http:// endpoint")
        );
        // Not TLS at all.
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(advice(&refused, &client), None);
        // An alert h2 kept as text only (an `io::Error` of a string), as gRPC reports it.
        let text = std::io::Error::other("received fatal alert: CertificateRequired");
        assert!(
            advice(&text, &none)
                .unwrap()
                .contains("asks for a client certificate")
        );
        let unknown = std::io::Error::other("received fatal alert: NoSuchAlert");
        assert_eq!(advice(&unknown, &none), None);
    }

    #[test]
    fn dates_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(784_111_777), "1994-11-06 08:49:37 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
