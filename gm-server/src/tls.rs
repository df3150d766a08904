//! gm-server's TLS identity: a self-signed certificate made on first start and kept in the data
//! directory, identified to game servers by its SHA-256 fingerprint.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// ALPN protocol name spoken on the QUIC listener.
pub const ALPN: &[u8] = b"gm/1";

/// Failure to load or create the TLS identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing the certificate files failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM file could not be parsed.
    #[error("could not parse {path}: {message}")]
    Pem {
        /// Which file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The certificate could not be generated.
    #[error("could not generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("invalid certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificate and key gm-server presents.
#[derive(Debug)]
pub struct Identity {
    /// Certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// Whether this start generated it.
    pub created: bool,
}

impl Identity {
    /// Loads `tls/cert.pem` and `tls/key.pem` from the data directory, creating a self-signed
    /// pair for `hostnames` if they do not exist yet.
    pub fn load_or_create(data_dir: &Path, hostnames: &[String]) -> Result<Identity, TlsError> {
        let dir = data_dir.join("tls");
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        let created = !cert_path.exists();
        if created {
            let mut names = hostnames.to_vec();
            if names.is_empty() {
                names.push("localhost".into());
            }
            let generated = rcgen::generate_simple_self_signed(names)?;
            std::fs::create_dir_all(&dir).map_err(|source| TlsError::Io {
                action: "creating",
                path: dir.clone(),
                source,
            })?;
            // The certificate's presence marks a complete identity, so it is renamed into place
            // last; a crash before that leaves files that the next start overwrites.
            write_atomic(
                &key_path,
                generated.signing_key.serialize_pem().as_bytes(),
                true,
            )?;
            write_atomic(&cert_path, generated.cert.pem().as_bytes(), false)?;
        }
        let chain = CertificateDer::pem_file_iter(&cert_path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::Pem {
                path: cert_path.clone(),
                message: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::Pem {
                path: cert_path,
                message: "no certificate in file".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| TlsError::Pem {
            path: key_path,
            message: e.to_string(),
        })?;
        Ok(Identity {
            chain,
            key,
            created,
        })
    }

    /// SHA-256 of the leaf certificate, as colon-separated upper-case hex: what game servers pin.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.chain[0])
    }

    /// A rustls server configuration for the QUIC listener.
    pub fn rustls_server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        self.server_config(&[rustls::version::TLS13.version], &[ALPN])
    }

    /// A rustls server configuration for the HTTPS listener (TLS 1.2 and 1.3, h2 and
    /// HTTP/1.1).
    pub fn https_server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        self.server_config(
            &[
                rustls::version::TLS13.version,
                rustls::version::TLS12.version,
            ],
            &[b"h2", b"http/1.1"],
        )
    }

    fn server_config(
        &self,
        versions: &[rustls::ProtocolVersion],
        alpn: &[&[u8]],
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: Vec<_> = rustls::ALL_VERSIONS
            .iter()
            .copied()
            .filter(|v| versions.contains(&v.version))
            .collect();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// Loads a certificate chain and key from PEM files (for `http.tls = "files"`).
    pub fn from_files(cert_path: &Path, key_path: &Path) -> Result<Identity, TlsError> {
        let chain = CertificateDer::pem_file_iter(cert_path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::Pem {
                path: cert_path.to_owned(),
                message: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::Pem {
                path: cert_path.to_owned(),
                message: "no certificate in file".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| TlsError::Pem {
            path: key_path.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Identity {
            chain,
            key,
            created: false,
        })
    }
}

/// SHA-256 fingerprint of a DER certificate, as `AB:CD:…`.
pub fn fingerprint(cert: &[u8]) -> String {
    let digest = Sha256::digest(cert);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io {
            action,
            path,
            source,
        }
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = opts.open(&tmp).map_err(io("creating", &tmp))?;
    file.write_all(bytes).map_err(io("writing", &tmp))?;
    file.sync_all().map_err(io("syncing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("renaming", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path(), &["localhost".into()]).unwrap();
        assert!(first.created);
        let again = Identity::load_or_create(dir.path(), &["other".into()]).unwrap();
        assert!(!again.created);
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_eq!(first.fingerprint().len(), 32 * 3 - 1);
        again.rustls_server_config().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tls/key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_half_written_identity_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tls")).unwrap();
        std::fs::write(dir.path().join("tls/key.pem"), "partial").unwrap();
        let id = Identity::load_or_create(dir.path(), &[]).unwrap();
        assert!(id.created);
    }
}
