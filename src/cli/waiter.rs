//! `lameduck waiter`: the `wait` action's waiter container, as the webhook injects it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::CliError;
use super::serve::{LogArgs, ServeError};
use crate::plan::duration::parse_millis;
use crate::plan::wait::WaitOn;
use crate::waiter::quiet::Probe;
use crate::waiter::release::Bounds;
use crate::waiter::sock_diag::SockDiag;
use crate::waiter::{self, ProcNet, SocketSource, WaiterConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableSource {
    SockDiag,
    Proc,
}

#[derive(Debug, Args)]
pub struct WaiterArgs {
    /// Port to listen on, on every address (the hooks call the pod's IP).
    #[arg(long, default_value_t = 9471)]
    pub port: u16,

    /// Never release before this, after the first hook call.
    #[arg(long, default_value = "2s", value_parser = millis)]
    pub min: Duration,

    /// Always release by this, after the first hook call.
    #[arg(long, default_value = "30s", value_parser = millis)]
    pub max: Duration,

    /// How long without inbound activity makes the pod quiet.
    #[arg(long, default_value = "1500ms", value_parser = millis)]
    pub window: Duration,

    /// How often to read the socket table once a hook has called.
    #[arg(long, default_value = "250ms", value_parser = millis)]
    pub poll: Duration,

    /// A probe the kubelet keeps sending, `PORT/PERIOD` (e.g. `8080/10s`): its new
    /// connections are not traffic. Repeatable.
    #[arg(long = "probe", value_parser = probe)]
    pub probes: Vec<Probe>,

    /// What keeps the pod from being quiet: `requests` (new connections and bytes on
    /// kept-alive ones) or `connections` (new connections only).
    #[arg(long, default_value = "requests")]
    pub wait_on: WaitOn,

    /// Where to read the socket table: `sock-diag` (netlink, with the bytes each
    /// connection received, so requests on kept-alive connections count as traffic) or
    /// `proc` (`/proc/net/tcp{,6}`: new connections, but only unread bytes on old ones).
    /// `sock-diag` falls back to `proc`, with a warning, where the kernel refuses it.
    #[arg(long, value_enum, default_value_t = TableSource::SockDiag)]
    pub table: TableSource,

    /// Keep serving after SIGTERM until the hooks are answered (at least 2 s): for a
    /// waiter that runs as a regular container, which gets SIGTERM at the deletion,
    /// together with the hook calls. Without it (a native sidecar, stopped only after
    /// the apps), SIGTERM stops it once the calls in flight are answered.
    #[arg(long)]
    pub hold_on_sigterm: bool,

    /// With `--hold-on-sigterm`: how many containers' hooks call the waiter; after
    /// SIGTERM it serves until they all have (or `--max` and 2 s more have passed). 0:
    /// not known, serve 2 s after SIGTERM.
    #[arg(long, default_value_t = 0)]
    pub hooks: usize,

    /// Where the socket tables are (`tcp`, `tcp6`) for `--table proc`.
    #[arg(long, default_value = "/proc/net", hide = true)]
    pub proc_net: PathBuf,

    #[command(flatten)]
    pub log: LogArgs,
}

fn millis(text: &str) -> Result<Duration, String> {
    parse_millis(text)
        .map(Duration::from_millis)
        .map_err(|error| format!("{text:?} {error}"))
}

fn probe(text: &str) -> Result<Probe, String> {
    let (port, period) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not PORT/PERIOD"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{text:?}: {port:?} is not a port"))?;
    let period = millis(period)?.max(Duration::from_secs(1));
    Ok(Probe { port, period })
}

impl WaiterArgs {
    pub(super) fn run(self) -> Result<ExitCode, CliError> {
        let WaiterArgs {
            port,
            min,
            max,
            window,
            poll,
            probes,
            wait_on,
            table,
            hold_on_sigterm,
            hooks: expected_hooks,
            proc_net,
            log,
        } = self;
        log.init()?;
        let give_up = max + crate::waiter::HOOK_SETTLE;
        let config = WaiterConfig {
            bounds: Bounds {
                min: min.min(max),
                max,
                window,
            },
            poll: poll.max(Duration::from_millis(10)),
            probes,
            port,
            count_requests: wait_on == WaitOn::Requests,
        };
        // One thread: the waiter sleeps nearly all its life, and every pod pays for it.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        runtime.block_on(async move {
            let listener = waiter::bind(port).await.map_err(ServeError::Bind)?;
            tracing::info!(port, ?config.bounds, probes = config.probes.len(), "waiter listening");
            let (router, hooks) = waiter::router(config, socket_table(table, proc_net));
            let signals = super::serve::Signals::register().map_err(ServeError::Signals)?;
            let served = if hold_on_sigterm {
                let answered = hooks.answered_after(signals.first(), expected_hooks, give_up);
                waiter::serve(listener, router, answered).await
            } else {
                waiter::serve(listener, router, signals.first()).await
            };
            served.map_err(ServeError::Bind)?;
            Ok::<_, CliError>(ExitCode::SUCCESS)
        })
    }
}

fn socket_table(table: TableSource, proc_net: PathBuf) -> Box<dyn SocketSource> {
    let proc = Box::new(ProcNet { dir: proc_net });
    match table {
        TableSource::Proc => proc,
        TableSource::SockDiag => match SockDiag::open() {
            Ok(diag) => Box::new(diag),
            Err(error) => {
                tracing::warn!(%error, "sock_diag refused; reading /proc/net/tcp, which shows no bytes on kept-alive connections");
                proc
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Test {
        #[command(flatten)]
        waiter: WaiterArgs,
    }

    #[test]
    fn the_flags_the_webhook_writes_parse() {
        let args = Test::parse_from([
            "t",
            "--port=9471",
            "--min=2s",
            "--max=30s",
            "--window=1500ms",
            "--poll=250ms",
            "--probe=8080/10s",
            "--probe=8081/1s",
            "--wait-on=connections",
            "--hold-on-sigterm",
            "--hooks=2",
        ])
        .waiter;
        assert_eq!(args.min, Duration::from_secs(2));
        assert_eq!(args.window, Duration::from_millis(1500));
        assert_eq!(args.wait_on, WaitOn::Connections);
        assert!(args.hold_on_sigterm);
        assert_eq!(args.hooks, 2);
        assert_eq!(
            args.probes,
            [
                Probe {
                    port: 8080,
                    period: Duration::from_secs(10)
                },
                Probe {
                    port: 8081,
                    period: Duration::from_secs(1)
                }
            ]
        );
        assert!(Test::try_parse_from(["t", "--probe=8080"]).is_err());
        assert!(Test::try_parse_from(["t", "--probe=http/10s"]).is_err());
    }
}
