//! The `arkivo` command line: the server's commands and the client's, under one binary.

use clap::{Parser, Subcommand};

use arkivo_client::cli::ClientCommand;
use arkivo_server::cli::ServerCommand;
use arkivo_server::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "arkivo",
    version,
    about = "A private, Rekor-compatible transparency log"
)]
pub struct Cli {
    /// How logs are written to stderr: `text`, or `json` (one JSON object per line, for log
    /// collectors; start-up notices included).
    #[arg(
        long,
        global = true,
        env = "ARKIVO_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    // Both boxed: each holds hundreds of bytes of flags, of very different sizes.
    #[command(flatten)]
    Server(Box<ServerCommand>),
    #[command(flatten)]
    Client(Box<ClientCommand>),
}
