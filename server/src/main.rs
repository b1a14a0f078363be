//! The `osprey` command.

use clap::{Parser, Subcommand};
use osprey::config::{Config, Overrides};
use osprey::Osprey;
use std::future::IntoFuture;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "osprey",
    version,
    about = "Self-hosted monitoring in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the dashboard.
    Serve {
        /// Address to listen on (default 127.0.0.1:3000).
        #[arg(long)]
        addr: Option<String>,
        /// sqlite://PATH (default sqlite://./data/osprey.db) or postgres://…
        #[arg(long)]
        database_url: Option<String>,
        /// Generate live demo data.
        #[arg(long)]
        demo: bool,
        /// Configuration file (default ./osprey.toml when present).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Score a CSV of `timestamp,value` (file or stdin) with the live detector; writes
    /// `timestamp,value,anomaly_score` to stdout.
    Detect {
        /// The CSV file; standard input when omitted.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Logs go to stderr: stdout carries data (`osprey detect`) and the keys printed once.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,leptos=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let (addr, database_url, demo, config) = match cli.command {
        Command::Serve {
            addr,
            database_url,
            demo,
            config,
        } => (addr, database_url, demo, config),
        Command::Detect { file } => return detect(file),
    };
    let overrides = Overrides {
        addr,
        database_url,
        demo,
    };
    let config = match Config::load(config.as_deref(), std::env::vars(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("osprey: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("osprey: {e}");
            ExitCode::FAILURE
        }
    }
}

fn detect(file: Option<PathBuf>) -> ExitCode {
    let stdout = std::io::stdout().lock();
    let result = match &file {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => osprey::anomaly::score_csv(
                std::io::BufReader::new(f),
                std::io::BufWriter::new(stdout),
            ),
            Err(e) => {
                eprintln!("osprey detect: cannot open {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => {
            osprey::anomaly::score_csv(std::io::stdin().lock(), std::io::BufWriter::new(stdout))
        }
    };
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("osprey detect: {e}");
            ExitCode::from(2)
        }
    }
}

async fn serve(config: Config) -> Result<(), osprey::StartError> {
    let addr = config.server.addr.clone();
    let grace = config.shutdown_grace();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| osprey::StartError::Bind {
            addr: addr.clone(),
            source,
        })?;
    let osprey = Osprey::start(config).await?;
    if let Some(key) = &osprey.new_keys.ingest {
        println!("created ingest key (shown once, stored hashed): {key}");
    }
    if let Some(token) = &osprey.new_keys.admin {
        println!("created admin token (shown once, stored hashed): {token}");
    }
    if let Some(password) = &osprey.new_keys.admin_password {
        println!("created user admin with password (shown once, stored hashed): {password}");
    }
    tracing::info!(addr = %addr, storage = osprey.state.store.backend(), "osprey listening on http://{addr}");
    let router = osprey.router();
    let (signalled_tx, signalled) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = signalled_tx.send(());
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = &mut server => { result.map_err(|source| osprey::StartError::Bind { addr: addr.clone(), source })?; }
        _ = async { let _ = signalled.await; } => {
            tracing::info!("shutting down: finishing requests and committing accepted batches");
            osprey.begin_shutdown();
            if tokio::time::timeout(grace, &mut server).await.is_err() {
                tracing::warn!(?grace, "requests still open after the grace period; closing them");
            }
        }
    }
    osprey.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
