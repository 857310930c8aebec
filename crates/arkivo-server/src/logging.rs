//! Logging to stderr for every command, and notices: what the operator must see whatever the
//! log filter (what was created, where the server listens, that it stopped).

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The log target of notices, which no `RUST_LOG` filter hides.
pub(crate) const NOTICE_TARGET: &str = "arkivo::notice";

pub(crate) static JSON_LOGS: AtomicBool = AtomicBool::new(false);

/// Sets up logging to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => {
            JSON_LOGS.store(true, Ordering::Relaxed);
            let notices = format!("{NOTICE_TARGET}=info")
                .parse()
                .expect("a valid filter directive");
            // Each line carries the fields of the request span it was logged in (its ID).
            logs.json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_env_filter(filter.add_directive(notices))
                .init();
        }
    }
}

/// Reports the error that ends the command, in the log format.
pub fn report_fatal(e: &anyhow::Error) {
    if JSON_LOGS.load(Ordering::Relaxed) {
        tracing::error!(target: NOTICE_TARGET, "{e:#}");
    } else {
        eprintln!("arkivo: {e:#}");
    }
}

/// Tells the operator something whatever the log filter (what was created, where the server
/// listens, that it stopped): a plain line on stderr, or with JSON logs an event on
/// [`NOTICE_TARGET`], so that every line is JSON.
macro_rules! notice {
    ($($arg:tt)*) => {
        if $crate::logging::JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(target: $crate::logging::NOTICE_TARGET, "{}", format_args!($($arg)*));
        } else {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use notice;
