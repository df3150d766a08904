//! Starting and stopping a whole gm-server: store, TLS identity, QUIC gateway, HTTP listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::api::ApiState;
use crate::auth::{AddressThrottle, AuthState};
use crate::config::{Config, HttpTls};
use crate::events::EventBus;
use crate::gateway::Gateway;
use crate::http::router;
use crate::store::{Store, StoreError};
use crate::tls::{Identity, TlsError};

/// Why gm-server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS identity could not be loaded or created.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A running gm-server. Dropping it does not stop it; call [`RunningServer::shutdown`].
#[derive(Debug)]
pub struct RunningServer {
    quic_addr: SocketAddr,
    http_addr: SocketAddr,
    fingerprint: String,
    store: Store,
    gateway: Gateway,
    endpoint: quinn::Endpoint,
    accept_task: JoinHandle<()>,
    http_task: JoinHandle<()>,
    http_handle: axum_server::Handle<SocketAddr>,
    drain: Duration,
}

impl RunningServer {
    /// Opens the store, loads the TLS identity and starts both listeners.
    pub async fn start(config: Config) -> Result<RunningServer, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let identity = Identity::load_or_create(&config.data_dir, &config.quic.hostnames)?;
        let fingerprint = identity.fingerprint();
        if identity.created {
            tracing::info!(dir = %config.data_dir.display(), "created a self-signed TLS certificate");
        }
        let store = Store::open(
            config.database.url.as_deref(),
            &config.data_dir,
            config.database.max_connections,
        )
        .await?;
        tracing::info!(backend = ?store.backend(), "store open");

        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(
            (*identity.rustls_server_config()?).clone(),
        )
        .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        // One telemetry stream per connection (see gm_proto::telemetry).
        transport.max_concurrent_uni_streams(1u32.into());
        transport.max_idle_timeout(
            quinn::IdleTimeout::try_from(Duration::from_millis(config.quic.idle_timeout_ms)).ok(),
        );
        server_config.transport_config(Arc::new(transport));
        let endpoint =
            quinn::Endpoint::server(server_config, config.quic.listen).map_err(|source| {
                StartError::Bind {
                    addr: config.quic.listen,
                    source,
                }
            })?;
        let quic_addr = endpoint.local_addr().map_err(|source| StartError::Bind {
            addr: config.quic.listen,
            source,
        })?;

        let listener =
            std::net::TcpListener::bind(config.http.listen).map_err(|source| StartError::Bind {
                addr: config.http.listen,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.http.listen,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| StartError::Bind {
                addr: config.http.listen,
                source,
            })?;
        let https = match config.http.tls {
            HttpTls::SelfSigned => Some(identity.https_server_config()?),
            HttpTls::Files => {
                let (Some(cert), Some(key)) = (&config.http.cert_file, &config.http.key_file)
                else {
                    return Err(StartError::Tls(TlsError::Pem {
                        path: config.data_dir.clone(),
                        message: "http.tls = \"files\" needs http.cert_file and http.key_file"
                            .into(),
                    }));
                };
                Some(Identity::from_files(cert, key)?.https_server_config()?)
            }
            HttpTls::Off => {
                tracing::warn!(
                    %http_addr,
                    "the admin HTTP listener is plain HTTP (http.tls = \"off\"): passwords, \
                     session cookies and API tokens cross the network unencrypted. Only use \
                     this behind a TLS-terminating proxy on the same host."
                );
                None
            }
        };
        let events = EventBus::default();
        let telemetry = crate::telemetry::Telemetry::start(store.clone(), &config.telemetry);
        let gateway = Gateway::new(
            store.clone(),
            config.quic.clone(),
            events.clone(),
            telemetry,
        );
        let accept_task = tokio::spawn(gateway.clone().accept_loop(endpoint.clone()));
        tokio::spawn(gateway.clone().roster_refresh_loop());
        let auth = Arc::new(AuthState {
            throttle: AddressThrottle::new(
                config.auth.address_lockout_after,
                config.auth.address_window_minutes as i64 * 60_000,
            ),
            config: config.auth.clone(),
            tls: https.is_some(),
        });
        let app = router(ApiState {
            store: store.clone(),
            gateway: gateway.clone(),
            events,
            auth,
            http: Default::default(),
        })
        .into_make_service_with_connect_info::<SocketAddr>();
        let http_handle = axum_server::Handle::new();
        let handle = http_handle.clone();
        // Without TCP_NODELAY, a response written in two segments waits for the client's
        // (possibly delayed) ACK of the first.
        use axum_server::accept::NoDelayAcceptor;
        let http_task = tokio::spawn(async move {
            let served = match https {
                Some(tls) => {
                    let tls = axum_server::tls_rustls::RustlsConfig::from_config(tls);
                    match axum_server::from_tcp_rustls(listener, tls) {
                        Ok(server) => {
                            server
                                .map(|tls| tls.acceptor(NoDelayAcceptor::new()))
                                .handle(handle)
                                .serve(app)
                                .await
                        }
                        Err(e) => Err(e),
                    }
                }
                None => match axum_server::from_tcp(listener) {
                    Ok(server) => {
                        server
                            .acceptor(NoDelayAcceptor::new())
                            .handle(handle)
                            .serve(app)
                            .await
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = served {
                tracing::error!("HTTP listener failed: {e}");
            }
        });
        tracing::info!(%quic_addr, %http_addr, %fingerprint, "gm-server listening");
        Ok(RunningServer {
            quic_addr,
            http_addr,
            fingerprint,
            store,
            gateway,
            endpoint,
            accept_task,
            http_task,
            http_handle,
            drain: Duration::from_millis(config.shutdown.drain_timeout_ms),
        })
    }

    /// Where game servers connect.
    pub fn quic_addr(&self) -> SocketAddr {
        self.quic_addr
    }

    /// Where the HTTP listener is.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// SHA-256 fingerprint of the TLS certificate, for game servers to pin.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The gateway to connected game servers.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Graceful shutdown: stop accepting, tell game servers, drain, close the store.
    pub async fn shutdown(self) {
        tracing::info!("shutting down: no new game servers, telling connected ones");
        self.gateway.shutdown(self.drain).await;
        let _ = self.accept_task.await;
        self.endpoint.close(
            quinn::VarInt::from_u32(gm_proto::close::SHUTTING_DOWN),
            b"shutting down",
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        self.http_handle
            .graceful_shutdown(Some(Duration::from_secs(2)));
        let _ = self.http_task.await;
        self.gateway.telemetry().close().await;
        self.store.close().await;
        tracing::info!("gm-server stopped");
    }
}
