//! lameduck: a Kubernetes mutating admission webhook that gives every pod a safe,
//! ordered graceful shutdown. See DESIGN.md for the model.

pub mod admission;
pub mod audit;
pub mod cli;
pub mod cluster;
pub mod inject;
pub mod manifests;
pub mod metrics;
pub mod plan;
pub mod scope;
pub mod server;
mod text;
pub mod tls_secret;
pub mod waiter;
pub mod webhook;
pub mod workload;

/// Displays an error and its causes as `outer: inner: innermost`. Error messages carry
/// only their own context and leave the cause to `source()`, so a log line that shows
/// one error uses this to show the whole story once.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}
