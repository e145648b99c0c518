//! The device API, modelled on XFS4IoT.
//!
//! Every device is a service run by one actor that owns its port. A command submitted through
//! a [`DeviceHandle`] is acknowledged at once (it was queued, or it was refused because the
//! bounded queue is full), may emit execute events tagged with its [`RequestId`], and ends in
//! exactly one [`Completion`]. Status changes and money movements the host did not ask for
//! (a coin dropped in, a cashbox removed) arrive as unsolicited [`Event`]s. Cash units keep
//! `initial`, `in` and `out` so that `count = initial + in - out` always holds.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiosk_core::Won;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// Identifies one command from acknowledgement to completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// How a command ended (XFS4IoT completion codes, the ones a money device can produce).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CompletionCode {
    /// Done as asked.
    Success,
    /// The host canceled it; the payload says what happened before it stopped.
    Canceled,
    /// The device did not answer within the bounded time.
    TimeOut,
    /// The device reported or showed a fault (jam, empty hopper, refused command).
    HardwareError,
    /// The device detected tampering (a note pulled back, a coin on a string).
    FraudAttempt,
    /// The device is not initialised, offline or busy.
    DeviceNotReady,
    /// The command's data is out of range for this device.
    InvalidData,
    /// The command does not fit the device's state (stack with nothing in escrow).
    SequenceError,
}

/// The one and only end of a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion<T> {
    /// The command this ends.
    pub request: RequestId,
    /// How it ended.
    pub code: CompletionCode,
    /// What it produced; present on success and wherever a partial result matters (a
    /// hopper that paid some coins and then ran dry).
    pub payload: Option<T>,
    /// A human-readable explanation for logs and the maintenance console.
    pub detail: String,
}

impl<T> Completion<T> {
    /// Whether the command succeeded.
    pub fn is_success(&self) -> bool {
        self.code == CompletionCode::Success
    }
}

/// What a driver hands back for one command, before the actor stamps the request id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome<T> {
    /// How it ended.
    pub code: CompletionCode,
    /// What it produced.
    pub payload: Option<T>,
    /// Why, in words.
    pub detail: String,
}

impl<T> Outcome<T> {
    /// Success with a payload.
    pub fn ok(payload: T) -> Outcome<T> {
        Outcome {
            code: CompletionCode::Success,
            payload: Some(payload),
            detail: String::new(),
        }
    }

    /// A failure without a payload.
    pub fn fail(code: CompletionCode, detail: impl Into<String>) -> Outcome<T> {
        Outcome {
            code,
            payload: None,
            detail: detail.into(),
        }
    }

    /// A failure that still reports what happened.
    pub fn fail_with(code: CompletionCode, payload: T, detail: impl Into<String>) -> Outcome<T> {
        Outcome {
            code,
            payload: Some(payload),
            detail: detail.into(),
        }
    }
}

/// An event from a device: an execute event of a command (`request` set) or an unsolicited
/// one (`request` is `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event<E> {
    /// The command that caused it, if any.
    pub request: Option<RequestId>,
    /// What happened.
    pub body: E,
}

/// A cash unit's counts (XFS4IoT `initial`, `in`, `out`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashUnit {
    /// Stable name, e.g. `hopper:500` or `stacker:10000`.
    pub id: String,
    /// Face value of one item.
    pub value: Won,
    /// Items put in by staff at the last replenishment.
    pub initial: u32,
    /// Items the device took in since.
    pub in_count: u32,
    /// Items the device gave out since.
    pub out_count: u32,
}

impl CashUnit {
    /// A unit with a starting count.
    pub fn new(id: impl Into<String>, value: Won, initial: u32) -> CashUnit {
        CashUnit {
            id: id.into(),
            value,
            initial,
            in_count: 0,
            out_count: 0,
        }
    }

    /// `initial + in - out`; negative means the counts disagree with reality (paid more
    /// than was ever loaded), which staff must see rather than have clamped away.
    pub fn count(&self) -> i64 {
        i64::from(self.initial) + i64::from(self.in_count) - i64::from(self.out_count)
    }

    /// Books items taken in.
    pub fn record_in(&mut self, n: u32) {
        self.in_count = self.in_count.saturating_add(n);
    }

    /// Books items given out.
    pub fn record_out(&mut self, n: u32) {
        self.out_count = self.out_count.saturating_add(n);
    }

    /// Staff counted and loaded the unit: start again from `initial`.
    pub fn replenish(&mut self, initial: u32) {
        self.initial = initial;
        self.in_count = 0;
        self.out_count = 0;
    }
}

/// Why a command was not acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The bounded command queue is full; try again later.
    #[error("device command queue is full")]
    QueueFull,
    /// The device's actor has stopped.
    #[error("device actor has stopped")]
    Stopped,
}

/// An acknowledged command waiting for its completion.
#[derive(Debug)]
pub struct Pending<T> {
    id: RequestId,
    rx: oneshot::Receiver<Completion<T>>,
}

impl<T> Pending<T> {
    /// The acknowledged command's id (matches its execute events).
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Waits for the completion. If the actor died meanwhile the completion says
    /// [`CompletionCode::DeviceNotReady`]: a command always ends exactly once.
    pub async fn completion(self) -> Completion<T> {
        match self.rx.await {
            Ok(c) => c,
            Err(_) => Completion {
                request: self.id,
                code: CompletionCode::DeviceNotReady,
                payload: None,
                detail: "device actor stopped".into(),
            },
        }
    }
}

/// A protocol driver run by [`spawn`]: blocking code over one port, called from the actor
/// on tokio's blocking pool, one call at a time.
pub trait Driver: Send + 'static {
    /// The commands it takes.
    type Command: Send + 'static;
    /// What its commands produce.
    type Payload: Send + 'static;
    /// What it reports.
    type Event: Send + 'static;

    /// Brings the device up; reports readiness or failure as events.
    fn start(&mut self, ctx: &mut Ctx<Self::Event>);
    /// Runs one command to its end.
    fn execute(
        &mut self,
        ctx: &mut Ctx<Self::Event>,
        command: Self::Command,
    ) -> Outcome<Self::Payload>;
    /// One periodic poll (credits, status).
    fn poll(&mut self, ctx: &mut Ctx<Self::Event>);
    /// How often [`Driver::poll`] runs.
    fn poll_interval(&self) -> Duration;
}

/// What a driver may touch while it runs: the event queue and the cancel flag of the
/// command in progress.
#[derive(Debug)]
pub struct Ctx<E> {
    events: mpsc::Sender<Event<E>>,
    request: Option<RequestId>,
    cancels: Arc<Cancels>,
}

impl<E> Ctx<E> {
    /// Emits an event tagged with the running command (unsolicited outside a command).
    /// Blocks while the bounded event queue is full: a device that cannot report must not
    /// go on taking money.
    pub fn emit(&self, body: E) {
        let _ = self.events.blocking_send(Event {
            request: self.request,
            body,
        });
    }

    /// Emits an unsolicited event even while a command runs.
    pub fn unsolicited(&self, body: E) {
        let _ = self.events.blocking_send(Event {
            request: None,
            body,
        });
    }

    /// Free room in the event queue; a poll that may produce several events is skipped
    /// when there is too little.
    pub fn room(&self) -> usize {
        self.events.capacity()
    }

    /// Whether the host asked to cancel the running command.
    pub fn is_canceled(&self) -> bool {
        self.request.is_some_and(|r| self.cancels.contains(r))
    }

    /// The running command, if any.
    pub fn request(&self) -> Option<RequestId> {
        self.request
    }
}

#[derive(Debug, Default)]
struct Cancels(Mutex<BTreeSet<RequestId>>);

impl Cancels {
    fn insert(&self, id: RequestId) {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(id);
        while set.len() > 64 {
            set.pop_first();
        }
    }
    fn contains(&self, id: RequestId) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }
    fn remove(&self, id: RequestId) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
}

struct Request<C, P> {
    id: RequestId,
    command: C,
    done: oneshot::Sender<Completion<P>>,
}

/// The host's side of a device actor. Cloneable; the actor stops when every clone is gone.
pub struct DeviceHandle<C, P> {
    tx: mpsc::Sender<Request<C, P>>,
    next: Arc<AtomicU64>,
    cancels: Arc<Cancels>,
}

impl<C, P> Clone for DeviceHandle<C, P> {
    fn clone(&self) -> Self {
        DeviceHandle {
            tx: self.tx.clone(),
            next: self.next.clone(),
            cancels: self.cancels.clone(),
        }
    }
}

impl<C, P> std::fmt::Debug for DeviceHandle<C, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceHandle").finish_non_exhaustive()
    }
}

impl<C: Send + 'static, P: Send + 'static> DeviceHandle<C, P> {
    /// Submits a command: the acknowledgement is the returned [`Pending`].
    pub fn submit(&self, command: C) -> Result<Pending<P>, SubmitError> {
        let id = RequestId(self.next.fetch_add(1, Ordering::Relaxed));
        let (done, rx) = oneshot::channel();
        self.tx
            .try_send(Request { id, command, done })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Stopped,
            })?;
        Ok(Pending { id, rx })
    }

    /// Submits a command and waits for its completion.
    pub async fn call(&self, command: C) -> Result<Completion<P>, SubmitError> {
        Ok(self.submit(command)?.completion().await)
    }

    /// Asks to cancel a queued or running command. A queued command completes
    /// [`CompletionCode::Canceled`] without running; a running one stops at its next safe
    /// point (a hopper stops paying and settles what left it).
    pub fn cancel(&self, id: RequestId) {
        self.cancels.insert(id);
    }
}

/// Capacities of an actor's queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSizes {
    /// Commands waiting to run.
    pub commands: usize,
    /// Events waiting to be read by the host.
    pub events: usize,
}

impl Default for QueueSizes {
    fn default() -> Self {
        QueueSizes {
            commands: 8,
            events: 64,
        }
    }
}

/// A started actor: the handle to command it and the receiver of its events.
pub type Spawned<C, P, E> = (DeviceHandle<C, P>, mpsc::Receiver<Event<E>>);

/// Starts an actor for `driver` on the current tokio runtime.
pub fn spawn<D: Driver>(driver: D, sizes: QueueSizes) -> Spawned<D::Command, D::Payload, D::Event> {
    let (tx, rx) = mpsc::channel(sizes.commands.max(1));
    let (etx, erx) = mpsc::channel(sizes.events.max(8));
    let cancels = Arc::new(Cancels::default());
    let handle = DeviceHandle {
        tx,
        next: Arc::new(AtomicU64::new(1)),
        cancels: cancels.clone(),
    };
    tokio::spawn(run(driver, rx, etx, cancels));
    (handle, erx)
}

async fn blocking<D: Driver, R: Send + 'static>(
    driver: D,
    mut ctx: Ctx<D::Event>,
    f: impl FnOnce(&mut D, &mut Ctx<D::Event>) -> R + Send + 'static,
) -> Option<(D, R)> {
    tokio::task::spawn_blocking(move || {
        let mut d = driver;
        let r = f(&mut d, &mut ctx);
        (d, r)
    })
    .await
    .ok()
}

async fn run<D: Driver>(
    driver: D,
    mut rx: mpsc::Receiver<Request<D::Command, D::Payload>>,
    events: mpsc::Sender<Event<D::Event>>,
    cancels: Arc<Cancels>,
) {
    let ctx = |request| Ctx {
        events: events.clone(),
        request,
        cancels: cancels.clone(),
    };
    let Some((mut driver, ())) = blocking(driver, ctx(None), |d, c| d.start(c)).await else {
        return;
    };
    let mut ticker = tokio::time::interval(driver.poll_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            req = rx.recv() => {
                let Some(req) = req else { break };
                let Request { id, command, done } = req;
                if cancels.contains(id) {
                    cancels.remove(id);
                    let _ = done.send(Completion {
                        request: id,
                        code: CompletionCode::Canceled,
                        payload: None,
                        detail: "canceled before it started".into(),
                    });
                    continue;
                }
                let Some((d, outcome)) =
                    blocking(driver, ctx(Some(id)), move |d, c| d.execute(c, command)).await
                else {
                    return;
                };
                driver = d;
                cancels.remove(id);
                let _ = done.send(Completion {
                    request: id,
                    code: outcome.code,
                    payload: outcome.payload,
                    detail: outcome.detail,
                });
            }
            _ = ticker.tick() => {
                let Some((d, ())) = blocking(driver, ctx(None), |d, c| d.poll(c)).await else {
                    return;
                };
                driver = d;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver whose commands take `ms` milliseconds and report one event each.
    struct Slow;

    impl Driver for Slow {
        type Command = u64;
        type Payload = u64;
        type Event = u64;
        fn start(&mut self, _ctx: &mut Ctx<u64>) {}
        fn execute(&mut self, ctx: &mut Ctx<u64>, ms: u64) -> Outcome<u64> {
            ctx.emit(ms);
            let end = std::time::Instant::now() + Duration::from_millis(ms);
            while std::time::Instant::now() < end {
                if ctx.is_canceled() {
                    return Outcome::fail(CompletionCode::Canceled, "canceled");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Outcome::ok(ms)
        }
        fn poll(&mut self, _ctx: &mut Ctx<u64>) {}
        fn poll_interval(&self) -> Duration {
            Duration::from_secs(3600)
        }
    }

    #[tokio::test]
    async fn every_command_ends_exactly_once_and_queues_are_bounded() {
        let (h, mut rx) = spawn(
            Slow,
            QueueSizes {
                commands: 2,
                events: 8,
            },
        );
        let first = h.submit(5_000).unwrap();
        // Wait until the first command runs, so the queue holds only what follows.
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev.request, Some(first.id()));
        let queued = h.submit(5).unwrap();
        let _third = h.submit(5).unwrap();
        assert_eq!(h.submit(5).unwrap_err(), SubmitError::QueueFull);
        // Cancel a queued command: it completes Canceled without running.
        h.cancel(queued.id());
        // Cancel the running one: it stops at its next check.
        h.cancel(first.id());
        let c = first.completion().await;
        assert_eq!(c.code, CompletionCode::Canceled);
        let c = queued.completion().await;
        assert_eq!(c.code, CompletionCode::Canceled);
        assert_eq!(c.detail, "canceled before it started");
        let c = h.call(7).await.unwrap();
        assert_eq!((c.code, c.payload), (CompletionCode::Success, Some(7)));
    }

    #[test]
    fn cash_unit_count_is_initial_plus_in_minus_out() {
        let mut u = CashUnit::new("hopper:100", Won::new(100), 10);
        u.record_in(3);
        u.record_out(5);
        assert_eq!(u.count(), 8);
        u.record_out(20);
        assert_eq!(u.count(), -12);
        u.replenish(50);
        assert_eq!((u.count(), u.in_count, u.out_count), (50, 0, 0));
    }
}
