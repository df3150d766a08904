//! How the SDK decides to trust gm-server's certificate: a pinned SHA-256 fingerprint (the
//! default for self-signed servers), a CA file, or — for local experiments only — anything.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::builder::BuildError;

/// ALPN protocol name gm-server speaks.
pub(crate) const ALPN: &[u8] = b"gm/1";

/// How the SDK trusts gm-server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// Accept exactly the certificate with this SHA-256 fingerprint (hex, colons optional), as
    /// printed by gm-server at start and by `gm-server fingerprint`.
    Fingerprint(String),
    /// Accept certificates signed by the CA in this PEM file, for the configured server name.
    CaFile(PathBuf),
    /// Accept any certificate. Anyone on the path can impersonate gm-server: for local
    /// experiments only.
    InsecureAcceptAnyCertificate,
}

/// Parses a fingerprint written as hex, with or without colons, any case.
pub(crate) fn parse_fingerprint(s: &str) -> Result<[u8; 32], BuildError> {
    let hex_only: String = s
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let bytes = hex::decode(&hex_only).map_err(|_| BuildError::BadFingerprint(s.to_string()))?;
    bytes
        .try_into()
        .map_err(|_| BuildError::BadFingerprint(s.to_string()))
}

pub(crate) fn format_fingerprint(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The last certificate rejection, kept so the driver can report it in plain words.
pub(crate) type LastTlsFailure = Arc<Mutex<Option<String>>>;

pub(crate) fn client_config(
    trust: &ServerTrust,
    last_failure: LastTlsFailure,
) -> Result<rustls::ClientConfig, BuildError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| BuildError::Tls(e.to_string()))?;
    let mut config = match trust {
        ServerTrust::Fingerprint(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                expected: parse_fingerprint(fp)?,
                provider,
                insecure: false,
                last_failure,
            }))
            .with_no_client_auth(),
        ServerTrust::InsecureAcceptAnyCertificate => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                expected: [0; 32],
                provider,
                insecure: true,
                last_failure,
            }))
            .with_no_client_auth(),
        ServerTrust::CaFile(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| BuildError::CaFile(path.clone(), e.to_string()))?;
            if certs.is_empty() {
                return Err(BuildError::CaFile(
                    path.clone(),
                    "no certificate in file".into(),
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| BuildError::CaFile(path.clone(), e.to_string()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// Checks the leaf certificate's SHA-256 against a pinned value. Signatures are still verified,
/// so the server must hold the private key of the pinned certificate.
#[derive(Debug)]
struct PinnedVerifier {
    expected: [u8; 32],
    provider: Arc<CryptoProvider>,
    insecure: bool,
    last_failure: LastTlsFailure,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == self.expected {
            return Ok(ServerCertVerified::assertion());
        }
        let message = format!(
            "gm-server's certificate fingerprint {} does not match the pinned {}",
            format_fingerprint(&got),
            format_fingerprint(&self.expected)
        );
        *self.last_failure.lock() = Some(message.clone());
        Err(rustls::Error::General(message))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A quinn client configuration that trusts gm-server as `trust` says and speaks gm-server's
/// ALPN: for tools that speak gm-proto themselves (load generators, protocol tests).
pub fn quinn_client_config(trust: &ServerTrust) -> Result<quinn::ClientConfig, BuildError> {
    let tls = client_config(trust, LastTlsFailure::default())?;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| BuildError::Tls(e.to_string()))?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_any_common_spelling() {
        let upper = "AB:".repeat(31) + "AB";
        let lower = "ab".repeat(32);
        assert_eq!(parse_fingerprint(&upper).unwrap(), [0xab; 32]);
        assert_eq!(parse_fingerprint(&lower).unwrap(), [0xab; 32]);
        assert!(parse_fingerprint("abcd").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
        assert_eq!(format_fingerprint(&[0xab; 32]), upper);
    }
}
