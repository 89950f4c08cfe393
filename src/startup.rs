//! Building and running the HTTP application.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::auth::limiter::LoginLimiter;
use crate::auth::sessions::SessionService;
use crate::aws::federation::Federation;
use crate::aws::regions::RegionRouter;
use crate::clock::now;
use crate::config::Settings;
use crate::directory::local::{bootstrap_admin, seed_demo, Bootstrap};
use crate::domain::session::SessionPolicy;
use crate::http::error::AppError;
use crate::http::middleware::{record_metrics, response_policy, share_generations_read};
use crate::http::routes;
use crate::http::state::AppState;
use crate::metrics::Metrics;
use crate::rules::RoleMapper;
use crate::saml::keys::{load_kek, KeyRing};
use crate::saml::profile::AwsProfile;
use crate::store::Store;
use crate::telemetry::QuietRootSpan;
use crate::tls::ReloadableCert;

/// Options that do not belong in the configuration file.
#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    /// Password for the bootstrap admin instead of a generated one
    /// (`FEDBROKER_BOOTSTRAP_ADMIN_PASSWORD`).
    pub bootstrap_admin_password: Option<String>,
}

/// A bound, migrated, ready-to-run broker.
pub struct Application {
    port: u16,
    url: String,
    store: Store,
    bootstrap: Bootstrap,
    demo_users: Vec<String>,
    regions: Arc<RegionRouter>,
    server: Server,
    /// The port and server of `metrics.listen`, when set.
    metrics: Option<(u16, Server)>,
    /// Shared with `/readyz`: set when SIGTERM starts the drain.
    draining: Arc<AtomicBool>,
    drain: Duration,
}

/// Opens the database and applies migrations (also `fedbroker migrate`).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database).await.with_context(|| {
        format!(
            "cannot open the database at {} (setting database.url)",
            crate::config::redact_url(&settings.database.url)
        )
    })?;
    let lock = crate::store::lock_for_migrations(&settings.database.url)
        .await
        .context("cannot lock the database file for its migrations")?;
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    drop(lock);
    Ok(store)
}

impl Application {
    /// Connects to the database, migrates, binds the listeners, prepares the signing key while
    /// it seeds the demo users, reads the TLS certificate, starts serving, and only then creates
    /// the bootstrap admin.
    /// Port 0 binds a free port (tests).
    pub async fn build(settings: Settings, options: BuildOptions) -> anyhow::Result<Application> {
        let store = open_store(&settings).await?;
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).with_context(|| {
            format!("cannot listen on {address} (settings server.host and server.port)")
        })?;
        let port = listener.local_addr()?.port();
        let url = settings.base_url(port);
        let metrics_listener =
            if settings.metrics.listen.is_empty() {
                None
            } else {
                let address = &settings.metrics.listen;
                Some(TcpListener::bind(address).with_context(|| {
                    format!("cannot listen on {address} (setting metrics.listen)")
                })?)
            };

        let policy = SessionPolicy {
            idle_timeout_secs: settings.session.idle_timeout_secs,
            absolute_timeout_secs: settings.session.absolute_timeout_secs,
        };
        spawn_pruning(store.clone(), &settings);
        let kek = load_kek(&settings.saml, &settings.database.url, &store).await?;
        let keys = KeyRing::new(store.clone(), kek, &format!("fedbroker SAML signing {url}"));
        // A first start generates its signing key (on two threads) while the demo users'
        // password hashes are computed: each waits on the CPU, not on the other.
        let (initial_key, demo_users) = tokio::join!(keys.ensure_initial(now()), async {
            if settings.demo.enabled {
                seed_demo(&store, now()).await
            } else {
                Ok(Vec::new())
            }
        });
        initial_key.context("cannot prepare the SAML signing key")?;
        let demo_users = demo_users.context("cannot seed the demo users")?;
        let profile = AwsProfile::from_settings(&settings.saml, &settings.sources, &url)?;
        let regions = Arc::new(RegionRouter::new(
            &settings.regions,
            settings.saml.partition,
            store.clone(),
        )?);
        regions
            .clone()
            .spawn_prober(Duration::from_secs(settings.regions.probe_interval_secs));
        let overrides = settings
            .sts
            .federation
            .iter()
            .filter_map(|e| Some((e.region.clone(), e.url.clone()?)))
            .collect();
        let federation = Federation::new(
            overrides,
            profile.partition,
            url.clone(),
            Duration::from_secs(settings.sts.attempt_timeout_secs),
        )?;
        let draining = Arc::new(AtomicBool::new(false));
        let state = web::Data::new(AppState {
            sessions: SessionService::new(store.clone(), policy),
            limiter: LoginLimiter::new(store.clone(), settings.login.clone()),
            metrics: Metrics::default(),
            store: store.clone(),
            settings: settings.clone(),
            keys,
            regions: regions.clone(),
            rules: RoleMapper::new(profile.clone()),
            sts: crate::aws::sts::StsClient::new(
                &settings.sts,
                settings.saml.partition,
                store.clone(),
            )?,
            federation,
            sources: crate::directory::Sources::new(&settings.sources, &url)?,
            upstream_saml: settings
                .sources
                .saml
                .iter()
                .map(|s| crate::saml::upstream::UpstreamIdp::new(s.clone(), &url, now()))
                .collect::<anyhow::Result<_>>()?,
            profile,
            url: url.clone(),
            draining: draining.clone(),
        });

        let cert = if settings.tls_enabled() {
            Some(ReloadableCert::load(
                &settings.server.tls_cert,
                &settings.server.tls_key,
            )?)
        } else {
            None
        };
        // Always: SIGHUP's default action would end the process (`systemctl reload`).
        crate::tls::reload_on_sighup(cert.clone())?;

        let metrics_state = state.clone();
        // Two workers per core by default: a worker runs the RSA signatures of its requests
        // on its own thread, and while its other requests wait on the database it has
        // nothing to run; a second runtime per core fills that gap (benches/console.sh on
        // 2 cores: 0.44 of the RSA limit on average, against 0.42 with one).
        let workers = if settings.server.workers == 0 {
            2 * std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            settings.server.workers
        };
        let server =
            HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .app_data(web::FormConfig::default().limit(64 * 1024).error_handler(
                        |err, _| {
                            AppError::BadRequest(format!("The form could not be read: {err}."))
                                .into()
                        },
                    ))
                    .app_data(web::QueryConfig::default().error_handler(|err, _| {
                        AppError::BadRequest(format!("The address has a malformed query: {err}."))
                            .into()
                    }))
                    .app_data(web::PathConfig::default().error_handler(|err, req| {
                        // Only the value's complaint ("can not parse \"abc\" to a i64"), not
                        // the framework's wording around it.
                        let why = match err {
                            actix_web::error::PathError::Deserialize(e) => e.to_string(),
                            other => other.to_string(),
                        };
                        AppError::BadRequest(format!(
                            "The address {} is not valid ({why}). Check the link, or start again \
                             from the portal.",
                            req.path()
                        ))
                        .into()
                    }))
                    .wrap(from_fn(share_generations_read))
                    .wrap(from_fn(record_metrics))
                    .wrap(Compress::default())
                    .wrap(from_fn(response_policy))
                    .wrap(TracingLogger::<QuietRootSpan>::new())
                    .configure(routes::configure)
                    .default_service(web::to(routes::not_found))
            })
            .workers(workers)
            .shutdown_timeout(settings.server.shutdown_timeout_secs)
            // SIGTERM and Ctrl-C are handled by `run_until_stopped` (drain first).
            .disable_signals();

        let server = if let Some(cert) = &cert {
            server.listen_rustls_0_23(listener, cert.server_config()?)?
        } else {
            server.listen(listener)?
        }
        .run();
        let metrics = match metrics_listener {
            Some(listener) => {
                let port = listener.local_addr()?.port();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(metrics_state.clone())
                        .route(
                            "/metrics",
                            web::get().to(routes::health::get_private_metrics),
                        )
                        .default_service(web::to(routes::not_found))
                })
                .workers(1)
                .shutdown_timeout(settings.server.shutdown_timeout_secs)
                .disable_signals()
                .listen(listener)?
                .run();
                Some((port, server))
            }
            None => None,
        };

        // Last, once everything that can refuse to start has succeeded: a start that fails
        // leaves no admin behind whose one-time password was never shown.
        let bootstrap = bootstrap_admin(
            &store,
            &settings.admin.group,
            options.bootstrap_admin_password.clone(),
            now(),
        )
        .await
        .context("cannot create the bootstrap admin")?;

        Ok(Application {
            port,
            url,
            store,
            bootstrap,
            demo_users,
            regions,
            server,
            metrics,
            draining,
            drain: Duration::from_secs(settings.server.drain_secs),
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL people use to reach this instance.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database, for tests and maintenance.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the first-start bootstrap did.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// The regional sign-in endpoints (tests probe them on demand).
    pub fn regions(&self) -> Arc<RegionRouter> {
        self.regions.clone()
    }

    /// Demo users created by this start.
    pub fn demo_users(&self) -> &[String] {
        &self.demo_users
    }

    /// The port of the `/metrics` listener, when `metrics.listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// Serves until SIGTERM or Ctrl-C. Then drains: `/readyz` answers 503 "draining" for
    /// `server.drain_secs` while requests are still served (a load balancer's health check
    /// takes the instance out first), then the listener closes and in-flight requests get
    /// `server.shutdown_timeout_secs` to finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut handles = vec![self.server.handle()];
        if let Some((_, metrics)) = &self.metrics {
            handles.push(metrics.handle());
        }
        let (draining, drain) = (self.draining.clone(), self.drain);
        tokio::spawn(async move {
            if let Err(e) = stop_signal().await {
                tracing::error!(error = %e, "cannot listen for SIGTERM; stop the broker with SIGKILL");
                return;
            }
            draining.store(true, Ordering::SeqCst);
            tracing::info!(
                drain_secs = drain.as_secs(),
                "stopping: /readyz reports draining, then the listener closes"
            );
            // A second SIGTERM or Ctrl-C cuts the drain and the grace period short.
            let graceful = tokio::select! {
                () = tokio::time::sleep(drain) => true,
                second = stop_signal() => second.is_err(),
            };
            let stopping = async {
                for handle in &handles {
                    handle.stop(graceful).await;
                }
            };
            tokio::select! {
                () = stopping => {}
                Ok(()) = stop_signal(), if graceful => {
                    tracing::info!("stopping now: a second signal");
                    for handle in &handles {
                        handle.stop(false).await;
                    }
                }
            }
        });
        match self.metrics {
            Some((_, metrics)) => tokio::try_join!(self.server, metrics).map(|_| ()),
            None => self.server.await,
        }
    }
}

/// The first SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Deletes expired sessions and old failure counters every ten minutes.
fn spawn_pruning(store: Store, settings: &Settings) {
    let idle = settings.session.idle_timeout_secs;
    let absolute = settings.session.absolute_timeout_secs;
    let window = settings.login.failure_window_secs;
    let retention = settings.audit.retention_days;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let t = now();
            match store.prune(t - idle, t - absolute, t - window).await {
                Ok(n) if n > 0 => tracing::debug!(removed = n, "pruned expired sessions"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning expired sessions failed"),
            }
            // Sign-ins at a provider get 10 minutes; abandoned ones are forgotten.
            if let Err(e) = store.prune_oidc_logins(t - 600).await {
                tracing::warn!(error = %e, "pruning abandoned OIDC sign-ins failed");
            }
            if let Err(e) = store.prune_oauth_codes(t).await {
                tracing::warn!(error = %e, "pruning expired command-line sign-in codes failed");
            }
            if let Err(e) = store.prune_cli_access_tokens(t).await {
                tracing::warn!(error = %e, "pruning expired command-line access tokens failed");
            }
            if let Err(e) = store.prune_saml(t - 600, t, t - absolute).await {
                tracing::warn!(error = %e, "pruning SAML sign-ins and assertion IDs failed");
            }
            match crate::audit::prune(&store, retention, t).await {
                Ok(n) if n > 0 => {
                    tracing::info!(removed = n, "pruned audit events past their retention")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning audit events failed"),
            }
        }
    });
}
