//! How every CareCycle program logs: to stderr, warnings and errors only
//! unless `RUST_LOG` asks for more. What is logged never carries health
//! information (codes and counts, not names or text); that rule lives with
//! each log line, this only decides where lines go.

/// Starts logging for this process; call once, first thing in `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}
