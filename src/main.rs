use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = arkivo::cli::Cli::parse();
    arkivo::cli::init_logging(cli.log_format);
    match arkivo::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            arkivo::cli::report_fatal(&e);
            std::process::ExitCode::FAILURE
        }
    }
}
