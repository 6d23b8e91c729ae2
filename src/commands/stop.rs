//! The signals that stop a running `sync` or `validate` at a safe point:
//! SIGTERM (systemd, Kubernetes, `kill`), SIGINT (Ctrl-C, a CI job being
//! cancelled) and SIGHUP (a closed terminal). The run then records itself
//! as interrupted, prints one line and exits 128 + the signal's number
//! (143, 130, 129), as a shell reports a process a signal ended.

use crate::run::{Interrupt, StopSignal};

/// Starts listening for the signals now (call it inside the runtime, before
/// the run starts, so that no signal between here and there kills the
/// process unrecorded); the future resolves with the first that arrives.
pub fn listen() -> Interrupt {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str, number: u8| {
            signal(kind).ok().map(|s| (s, StopSignal { name, number }))
        };
        let mut listeners: Vec<(Signal, StopSignal)> = [
            listen(SignalKind::terminate(), "SIGTERM", 15),
            listen(SignalKind::interrupt(), "SIGINT", 2),
            listen(SignalKind::hangup(), "SIGHUP", 1),
        ]
        .into_iter()
        .flatten()
        .collect();
        // With no listener at all (none could be set up), never resolves.
        Interrupt(Box::pin(std::future::poll_fn(move |cx| {
            for (s, which) in listeners.iter_mut() {
                if s.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready(*which);
                }
            }
            std::task::Poll::Pending
        })))
    }
    #[cfg(not(unix))]
    {
        Interrupt(Box::pin(async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            StopSignal {
                name: "Ctrl-C",
                number: 2,
            }
        }))
    }
}
