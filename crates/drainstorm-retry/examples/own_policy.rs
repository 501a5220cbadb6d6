//! A retry policy of your own: retry only after timeouts, at most twice,
//! a fixed 50 ms apart, with a 300 ms timeout per attempt. Implement
//! `RetryPolicy` and a simulator (drainstorm's, through
//! `Simulation::builder(...).policy(...)`, or your own) drives it.
//!
//! Run with `cargo run -p drainstorm-retry --example own_policy`.

use drainstorm_retry::{
    Decision, GiveUp, Outcome, Pushback, Refusal, RequestState, RetryPolicy, SimDuration, SimTime,
};
use rand::{RngCore, SeedableRng};

/// Retries a timed-out attempt (the server may be slow, not down), never
/// a refused one (it would only add load).
struct TimeoutsOnly;

impl RetryPolicy for TimeoutsOnly {
    fn admit(&mut self, _now: SimTime, _rng: &mut dyn RngCore) -> Result<(), Refusal> {
        Ok(())
    }

    fn begin(&mut self, now: SimTime) -> RequestState {
        RequestState::new(now)
    }

    fn on_outcome(
        &mut self,
        _now: SimTime,
        request: &mut RequestState,
        outcome: Outcome,
        _rng: &mut dyn RngCore,
    ) -> Decision {
        match outcome {
            Outcome::Success => Decision::Done,
            Outcome::Failure(_) => Decision::GiveUp(GiveUp::Pushback),
            Outcome::Timeout if request.attempts >= 3 => Decision::GiveUp(GiveUp::Attempts),
            Outcome::Timeout => {
                request.attempts += 1;
                Decision::Retry(SimDuration::from_millis(50))
            }
        }
    }

    fn attempt_deadline(&self, now: SimTime, _request: &RequestState) -> Option<SimTime> {
        Some(now + SimDuration::from_millis(300))
    }
}

fn main() {
    let mut policy = TimeoutsOnly;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let now = SimTime::ZERO;
    let mut request = policy.begin(now);
    assert_eq!(
        policy.on_outcome(now, &mut request, Outcome::Timeout, &mut rng),
        Decision::Retry(SimDuration::from_millis(50))
    );
    assert_eq!(
        policy.on_outcome(
            now,
            &mut request,
            Outcome::Failure(Pushback::None),
            &mut rng
        ),
        Decision::GiveUp(GiveUp::Pushback)
    );
    println!(
        "a timeout is retried, a refusal is not: {} attempts",
        request.attempts
    );
}
