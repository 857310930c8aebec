use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = arkivo::cli::Cli::parse();
    arkivo::cli::init_logging(cli.log_format);
    match arkivo::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            arkivo::cli::report_fatal(&e);
            // The client commands' documented exit codes; 1 for everything else.
            match e.downcast_ref::<arkivo::client::commands::Failure>() {
                Some(f) => std::process::ExitCode::from(f.exit_code()),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
