//! The `fedbroker` binary: parses the command line and hands over to [`fedbroker::cli`].

use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    return_freed_memory();
    let cli = fedbroker::cli::Cli::parse();
    fedbroker::cli::run(cli).await
}

/// glibc's allocator raises its mmap and trim thresholds each time a large block is freed (up
/// to 32 MB), after which the worker threads' arenas keep what a burst of sign-ins freed: the
/// broker settled at ~68 MB resident after `benches/console.sh` instead of ~49 MB. Fixed
/// thresholds (the defaults, 128 KiB, without the drift) give freed memory back at no
/// measured cost in throughput (mimalloc, tried instead, kept 74 MB). `MALLOC_*_`
/// environment variables still take precedence.
///
/// The one `unsafe` block of the project (the crate denies `unsafe_code` everywhere else): a
/// foreign call that only changes allocator tuning.
#[allow(unsafe_code)]
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 128 * 1024;
        for (param, env) in [
            (libc::M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_"),
            (libc::M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_"),
        ] {
            if std::env::var_os(env).is_none() {
                // SAFETY: mallopt takes two integers and only changes tuning; it is
                // thread-safe in glibc, and runs here before the worker threads start.
                unsafe {
                    libc::mallopt(param, THRESHOLD);
                }
            }
        }
    }
}
