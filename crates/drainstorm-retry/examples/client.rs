//! A client driving a retry policy against a server that fails every
//! other attempt, with time passed in (here a counter, in a real client
//! the clock): the policy decides, the client waits and sends.
//!
//! Run with `cargo run -p drainstorm-retry --example client`: it needs
//! nothing but this crate and `rand`.

use drainstorm_retry::{Decision, Outcome, Policy, Pushback, RetryPolicy, SimDuration, SimTime};
use rand::SeedableRng;

fn main() {
    // gRPC's defaults: exponential backoff with jitter and a retry budget.
    let mut policy = Policy::preset_named("grpc").expect("a bundled preset");
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut now = SimTime::ZERO;
    let mut attempts_sent = 0u32;
    for request in 0..5u32 {
        if policy.admit(now, &mut rng).is_err() {
            println!("request {request}: refused by the client itself");
            continue;
        }
        let mut state = policy.begin(now);
        loop {
            attempts_sent += 1;
            // The server: every other attempt fails, and takes 20 ms.
            now = now + SimDuration::from_millis(20);
            let outcome = if attempts_sent.is_multiple_of(2) {
                Outcome::Failure(Pushback::None)
            } else {
                Outcome::Success
            };
            match policy.on_outcome(now, &mut state, outcome, &mut rng) {
                Decision::Done => {
                    println!(
                        "request {request}: succeeded after {} attempts",
                        state.attempts
                    );
                    break;
                }
                Decision::Retry(delay) => {
                    println!("request {request}: retry in {delay}");
                    now = now + delay;
                }
                Decision::GiveUp(why) => {
                    println!("request {request}: gave up ({why:?})");
                    break;
                }
            }
        }
    }
    println!("{attempts_sent} attempts for 5 requests");
}
