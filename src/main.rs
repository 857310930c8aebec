use clap::Parser;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match arkivo::cli::run(arkivo::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arkivo: {e:#}");
            // The client commands' documented exit codes; 1 for everything else.
            match e.downcast_ref::<arkivo::client::commands::Failure>() {
                Some(f) => std::process::ExitCode::from(f.exit_code()),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
