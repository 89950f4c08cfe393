//! The `fedbroker` binary: parses the command line and hands over to [`fedbroker::cli`].

use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = fedbroker::cli::Cli::parse();
    fedbroker::cli::run(cli).await
}
