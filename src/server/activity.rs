//! When a connection last did something, for two timeouts hyper cannot tell apart: its
//! `header_read_timeout` also runs while a kept-alive connection waits for its next
//! request, so it would close idle connections after a few seconds. The API server keeps
//! its idle connections to a webhook for 90 s and sends a review on one without knowing
//! the server is closing it; a POST is not retried, so that review fails (and under
//! `failurePolicy: Ignore` the pod is admitted without its plan). Here an idle
//! connection lives longer than its client keeps it, so the client always closes first,
//! while a request head that trickles in is still cut off after a few seconds.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Longer than the idle timeout of the API server's webhook client (client-go's 90 s).
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a connection is to be closed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Expiry {
    /// No request in flight and no byte received for the idle timeout.
    Idle,
    /// Bytes of a request arrived, and its head was not complete within the head timeout.
    SlowHead,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    last_activity: Instant,
    /// When the first byte of a request not yet handed to the service arrived.
    head_started: Option<Instant>,
}

#[derive(Debug)]
pub(super) struct Activity {
    state: Mutex<State>,
    /// Wakes `expired` when a request head starts: its deadline is then sooner.
    head_began: Notify,
    /// `None` on h2, where bytes between requests (pings, window updates) are normal.
    head_timeout: Option<Duration>,
    idle_timeout: Duration,
}

impl Activity {
    pub(super) fn new(head_timeout: Option<Duration>, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Activity {
            state: Mutex::new(State {
                in_flight: 0,
                last_activity: Instant::now(),
                head_started: None,
            }),
            head_began: Notify::new(),
            head_timeout,
            idle_timeout,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here can panic while holding the lock; a poisoned one is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn received(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        state.last_activity = now;
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(now);
            drop(state);
            self.head_began.notify_one();
        }
    }

    fn request_started(&self) {
        let mut state = self.lock();
        state.in_flight += 1;
        state.head_started = None;
        state.last_activity = Instant::now();
    }

    fn request_finished(&self) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        state.last_activity = Instant::now();
    }

    /// When the connection expires if nothing happens before, and why.
    fn deadline(&self) -> (Instant, Option<Expiry>) {
        let state = self.lock();
        if state.in_flight > 0 {
            return (Instant::now() + self.idle_timeout, None);
        }
        match (self.head_timeout, state.head_started) {
            (Some(timeout), Some(started)) => (started + timeout, Some(Expiry::SlowHead)),
            _ => (state.last_activity + self.idle_timeout, Some(Expiry::Idle)),
        }
    }

    /// Resolves once the connection has been idle, or a request head has been arriving,
    /// for too long.
    pub(super) async fn expired(&self) -> Expiry {
        self.until(|_| true).await
    }

    /// Resolves only once a request head has been arriving for too long: what a drain,
    /// which no longer cares how long a connection idles, still has to bound.
    pub(super) async fn head_overdue(&self) {
        self.until(|expiry| *expiry == Expiry::SlowHead).await;
    }

    /// The first expiry `wanted` accepts. Only a head's start brings a deadline forward,
    /// and it notifies; every other change moves it later, which the recheck on waking
    /// sees.
    async fn until(&self, wanted: impl Fn(&Expiry) -> bool) -> Expiry {
        loop {
            let (deadline, expiry) = self.deadline();
            if expiry.as_ref().is_some_and(|expiry| !wanted(expiry)) {
                // Only a head starting can turn this into an expiry we want.
                self.head_began.notified().await;
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = self.head_began.notified() => continue,
            }
            if let (deadline, Some(expiry)) = self.deadline()
                && deadline <= Instant::now()
                && wanted(&expiry)
            {
                return expiry;
            }
        }
    }

    /// Wraps a service's call so the connection knows a request is in flight.
    pub(super) fn track<F: Future>(self: &Arc<Self>, call: F) -> Tracked<F> {
        self.request_started();
        Tracked {
            call,
            _finished: Finished(self.clone()),
        }
    }
}

/// Marks the request finished when its future is dropped: done, failed or cancelled.
struct Finished(Arc<Activity>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

pin_project_lite::pin_project! {
    /// A service's future, counted as in flight until it is dropped.
    pub(super) struct Tracked<F> {
        #[pin]
        call: F,
        _finished: Finished,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().call.poll(cx)
    }
}

/// A connection's stream, noting every read that brings bytes.
pub(super) struct ActivityIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> ActivityIo<T> {
    pub(super) fn new(inner: T, activity: Arc<Activity>) -> Self {
        ActivityIo { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(5);
    const IDLE: Duration = Duration::from_secs(120);

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_expires_after_the_idle_timeout_not_the_head_timeout() {
        let activity = Activity::new(Some(HEAD), IDLE);
        let started = Instant::now();
        assert_eq!(activity.expired().await, Expiry::Idle);
        assert_eq!(started.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_head_that_does_not_complete_expires_after_the_head_timeout() {
        let activity = Activity::new(Some(HEAD), IDLE);
        tokio::time::advance(Duration::from_secs(60)).await;
        activity.received();
        let started = Instant::now();
        assert_eq!(activity.expired().await, Expiry::SlowHead);
        assert_eq!(started.elapsed(), HEAD);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_starts_while_waiting_brings_the_deadline_forward() {
        let activity = Activity::new(Some(HEAD), IDLE);
        let expired = activity.expired();
        tokio::pin!(expired);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = &mut expired => panic!("expired while idle for 10 s"),
        }
        activity.received();
        let started = Instant::now();
        assert_eq!(expired.await, Expiry::SlowHead);
        assert_eq!(started.elapsed(), HEAD);
    }

    #[tokio::test(start_paused = true)]
    async fn a_drain_still_cuts_off_a_head_that_trickles_in() {
        let activity = Activity::new(Some(HEAD), IDLE);
        let overdue = activity.head_overdue();
        tokio::pin!(overdue);
        tokio::select! {
            () = tokio::time::sleep(IDLE * 2) => {}
            () = &mut overdue => panic!("an idle connection counted as a slow head"),
        }
        activity.received();
        let started = Instant::now();
        overdue.await;
        assert_eq!(started.elapsed(), HEAD);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_never_expires_and_the_idle_time_counts_from_its_end() {
        let activity = Activity::new(Some(HEAD), IDLE);
        activity.received();
        let call = activity.track(tokio::time::sleep(Duration::from_secs(300)));
        let expired = activity.expired();
        tokio::pin!(expired);
        tokio::select! {
            () = call => {}
            _ = &mut expired => panic!("expired with a request in flight"),
        }
        let finished = Instant::now();
        assert_eq!(expired.await, Expiry::Idle);
        assert_eq!(finished.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn on_h2_bytes_between_requests_are_activity_not_a_slow_head() {
        let activity = Activity::new(None, IDLE);
        tokio::time::advance(Duration::from_secs(100)).await;
        activity.received();
        let started = Instant::now();
        assert_eq!(activity.expired().await, Expiry::Idle);
        assert_eq!(started.elapsed(), IDLE);
    }
}
