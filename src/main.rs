//! `arkivo`: the server and the client of a private, Rekor-compatible transparency log.

mod cli;

use clap::Parser;

use arkivo_client::commands::Failure;
use arkivo_server::logging;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    logging::init_logging(cli.log_format);
    let result = match cli.command {
        cli::Command::Server(command) => arkivo_server::cli::run(*command),
        cli::Command::Client(command) => arkivo_client::cli::run(*command).map_err(Into::into),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            logging::report_fatal(&e);
            // The client commands' documented exit codes; 1 for everything else.
            match e.downcast_ref::<Failure>() {
                Some(f) => std::process::ExitCode::from(f.exit_code()),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
