//! Peak-EWMA power of two choices, drainstorm's against tower's, in one
//! run: a request's pick and bookkeeping over N backends.
//!
//! `cargo bench -p drainstorm-peers`; figures in BENCHMARKS.md.
//!
//! - `tower`: `tower::balance::p2c::Balance` over a `ServiceList` of
//!   `tower::load::PeakEwma` services (each an always-ready
//!   `service_fn`). A request is `poll_ready` (which samples two ready
//!   services and compares their `load()`: a mutex, two clock reads and
//!   an `exp` each), `call` (a clock read), and one poll of the answer,
//!   which completes at once and drops the handle that records the
//!   latency (two more clock reads and the mutex).
//! - `drainstorm-clock`: a `Handle<PeakEwmaPicks>`: `pick`, `start`, and
//!   `finish_observed` with the latency and time from two
//!   `Instant::now()` reads, as a proxy reads its clock at send and at
//!   answer.
//! - `drainstorm`: the same without the clock reads (a simulator's
//!   virtual time).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use drainstorm_balancer::{Backend, PeakEwma};
use futures::task::noop_waker_ref;
use tower::Service;
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PeakEwma as TowerPeakEwma};

const SIZES: [usize; 3] = [8, 64, 1024];

/// An always-ready service that answers at once.
#[derive(Clone, Copy)]
struct Instant0;

impl Service<()> for Instant0 {
    type Response = ();
    type Error = Infallible;
    type Future = Ready<Result<(), Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: ()) -> Self::Future {
        ready(Ok(()))
    }
}

fn tower_request(
    lb: &mut Balance<ServiceList<Vec<TowerPeakEwma<Instant0, CompleteOnResponse>>>, ()>,
    cx: &mut Context<'_>,
) {
    match lb.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("every service is ready"),
    }
    let mut answer = std::pin::pin!(lb.call(()));
    let done = std::future::Future::poll(answer.as_mut(), cx);
    black_box(done.is_ready());
}

fn peak_ewma(c: &mut Criterion) {
    let mut group = c.benchmark_group("peak-ewma");
    let decay = Duration::from_secs(10);
    let default_rtt = Duration::from_millis(30);
    for n in SIZES {
        let services: Vec<_> = (0..n)
            .map(|_| {
                TowerPeakEwma::new(
                    Instant0,
                    default_rtt,
                    decay.as_nanos() as f64,
                    CompleteOnResponse::default(),
                )
            })
            .collect();
        let mut tower = Balance::new(ServiceList::new(services));
        let mut cx = Context::from_waker(noop_waker_ref());
        // The first poll discovers the services.
        tower_request(&mut tower, &mut cx);
        group.bench_with_input(BenchmarkId::new("tower", n), &n, |b, _| {
            b.iter(|| tower_request(&mut tower, &mut cx))
        });

        let backends: Vec<Backend> = (0..n as u32).map(|i| Backend::new(i, 1)).collect();
        let ours = PeakEwma::with_seed(&backends, 1).unwrap();
        let mut h = ours.handle();
        let origin = Instant::now();
        group.bench_with_input(BenchmarkId::new("drainstorm-clock", n), &n, |b, _| {
            b.iter(|| {
                let sent = Instant::now();
                let id = h.pick(0).unwrap();
                h.start(id);
                let now = Instant::now();
                let latency = now.duration_since(sent).as_nanos() as u64;
                let at = now.duration_since(origin).as_nanos() as u64;
                black_box(h.finish_observed(id, latency, at))
            })
        });
        let mut t = 0u64;
        group.bench_with_input(BenchmarkId::new("drainstorm", n), &n, |b, _| {
            b.iter(|| {
                t += 1_000;
                let id = h.pick(0).unwrap();
                h.start(id);
                black_box(h.finish_observed(id, 500 + t % 700, t))
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(900))
}

criterion_group! { name = benches; config = config(); targets = peak_ewma }
criterion_main!(benches);
