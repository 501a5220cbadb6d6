//! Many clients under one policy, each with a state of its own: see
//! [`Population`].

use rand::RngCore;

use super::breaker::{BreakerWindow, CircuitBreaker};
use super::budget::{Budget, BudgetMut, RatioBudget, RetryQuota, TokenBucket};
use super::client::{Client, attempt_deadline};
use super::error::RetryConfigError;
use super::throttle::AdaptiveThrottle;
use super::{Decision, Outcome, Policy, PolicyConfig, Refusal, RequestState, SimTime};

/// The largest population: 2^24 clients.
pub const MAX_POPULATION: u32 = 1 << 24;

/// Each client's budget, one vector per kind so that a client pays only
/// for its own kind's state.
#[derive(Clone, Debug)]
enum Budgets {
    None,
    TokenBucket(Vec<TokenBucket>),
    Quota(Vec<RetryQuota>),
    Ratio(Vec<RatioBudget>),
}

/// `clients` independent clients under one [`PolicyConfig`]: each with its
/// own budget, breaker and throttle. Clients are numbered `0..len()`; a
/// method given a client out of range panics, as indexing a slice does.
///
/// A retry budget, a circuit breaker or an adaptive throttle lives in one
/// client process: gRPC keeps its retry throttle per channel, the AWS SDKs
/// their quota per client object, Envoy its limits per cluster in each
/// proxy. A population of a thousand such processes has a thousand
/// budgets. Modelled as one shared budget, the population behaves like no
/// real one: the shared bucket empties within a fraction of a second of an
/// overload and refills as fast, a global switch that turns every client's
/// retries off and on at once, while real budgets drain one client at a
/// time, each at its own rate. And the shared model's answers change with
/// the size of the system (a budget of ten tokens means something else at
/// 90 requests a second than at 9 000), where a population whose size
/// grows with its load keeps each client's share, and so its behaviour,
/// the same.
///
/// It keeps the parameters once and, per client, only what
/// changes: a token bucket's tokens, a quota's balance, a window's counts,
/// a breaker's state. Each client's decisions are exactly those of its own
/// [`Policy`] driven alone (`tests/population.rs` holds them to it).
///
/// ```
/// use drainstorm_retry::{Decision, Outcome, Policy, Population, Pushback, SimTime};
/// use rand::SeedableRng;
///
/// let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
/// let grpc = Policy::grpc().config().clone(); // 10 tokens; retries while > 5
/// let mut clients = Population::new(grpc, 1000)?;
/// let failed = Outcome::Failure(Pushback::None);
/// // Client 7 fails five times in a row and spends its budget...
/// for _ in 0..5 {
///     let mut r = clients.begin(7, SimTime::ZERO);
///     clients.on_outcome(7, SimTime::ZERO, &mut r, failed, &mut rng);
/// }
/// let mut r = clients.begin(7, SimTime::ZERO);
/// assert!(matches!(clients.on_outcome(7, SimTime::ZERO, &mut r, failed, &mut rng), Decision::GiveUp(_)));
/// // ...while client 8 still retries.
/// let mut r = clients.begin(8, SimTime::ZERO);
/// assert!(matches!(clients.on_outcome(8, SimTime::ZERO, &mut r, failed, &mut rng), Decision::Retry(_)));
/// # Ok::<(), drainstorm_retry::RetryConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Population {
    config: PolicyConfig,
    clients: u32,
    budgets: Budgets,
    breakers: Vec<CircuitBreaker>,
    throttles: Vec<AdaptiveThrottle>,
}

impl Population {
    /// Validates `config` (as [`Policy::new`] does) and builds `clients`
    /// clients, each in the state a new [`Policy`] starts in. `clients`
    /// must be from 1 to [`MAX_POPULATION`].
    pub fn new(config: PolicyConfig, clients: u32) -> Result<Self, RetryConfigError> {
        if !(1..=MAX_POPULATION).contains(&clients) {
            return Err(RetryConfigError::new(
                "clients",
                clients,
                "from 1 to 16777216 (2^24)",
            ));
        }
        let (config, budget, breaker, throttle) = Policy::new(config)?.into_parts();
        let n = clients as usize;
        let budgets = match budget {
            None => Budgets::None,
            Some(Budget::TokenBucket(t)) => Budgets::TokenBucket(vec![t; n]),
            Some(Budget::Quota(q)) => Budgets::Quota(vec![q; n]),
            Some(Budget::Ratio(r)) => Budgets::Ratio(vec![r; n]),
        };
        Ok(Self {
            config,
            clients,
            budgets,
            breakers: breaker.map_or_else(Vec::new, |b| vec![b; n]),
            throttles: throttle.map_or_else(Vec::new, |t| vec![t; n]),
        })
    }

    /// The parameters every client follows.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// How many clients.
    pub fn len(&self) -> usize {
        self.clients as usize
    }

    /// Never: a population has at least one client.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The memory each client's state takes, in bytes: its budget, its
    /// breaker (with a count window's outcomes) and its throttle. A policy
    /// with none of them costs nothing per client.
    ///
    /// ```
    /// use drainstorm_retry::{Policy, Population};
    ///
    /// let grpc = Population::new(Policy::grpc().config().clone(), 1_000_000)?;
    /// assert!(grpc.bytes_per_client() <= 24); // a token bucket: 24 MB for a million
    /// let naive = Population::new(Policy::naive().config().clone(), 1_000_000)?;
    /// assert_eq!(naive.bytes_per_client(), 0);
    /// # Ok::<(), drainstorm_retry::RetryConfigError>(())
    /// ```
    pub fn bytes_per_client(&self) -> usize {
        use std::mem::size_of;
        let budget = match &self.budgets {
            Budgets::None => 0,
            Budgets::TokenBucket(_) => size_of::<TokenBucket>(),
            Budgets::Quota(_) => size_of::<RetryQuota>(),
            Budgets::Ratio(_) => size_of::<RatioBudget>(),
        };
        let breaker = self.breakers.first().map_or(0, |b| {
            let ring = match b.config().window {
                BreakerWindow::Count(n) => n as usize,
                BreakerWindow::Time(_) => 0,
            };
            size_of::<CircuitBreaker>() + ring
        });
        let throttle = if self.throttles.is_empty() {
            0
        } else {
            size_of::<AdaptiveThrottle>()
        };
        budget + breaker + throttle
    }

    /// A snapshot of client `client`'s budget, if the policy has one.
    pub fn budget(&self, client: usize) -> Option<Budget> {
        match &self.budgets {
            Budgets::None => None,
            Budgets::TokenBucket(v) => Some(Budget::TokenBucket(v[client].clone())),
            Budgets::Quota(v) => Some(Budget::Quota(v[client].clone())),
            Budgets::Ratio(v) => Some(Budget::Ratio(v[client].clone())),
        }
    }

    /// Client `client`'s breaker, if the policy has one.
    pub fn breaker(&self, client: usize) -> Option<&CircuitBreaker> {
        self.breakers.get(client)
    }

    #[inline]
    fn client(&mut self, i: usize) -> Client<'_> {
        client_of(
            self.clients,
            &mut self.budgets,
            &mut self.breakers,
            &mut self.throttles,
            i,
        )
    }

    /// May client `client` send an attempt (first or retry) at `now`? As
    /// [`RetryPolicy::admit`](super::RetryPolicy::admit).
    #[inline]
    pub fn admit(
        &mut self,
        client: usize,
        now: SimTime,
        rng: &mut dyn RngCore,
    ) -> Result<(), Refusal> {
        self.client(client).admit(now, rng)
    }

    /// Client `client` starts a request whose first attempt is sent at
    /// `now`. As [`RetryPolicy::begin`](super::RetryPolicy::begin).
    #[inline]
    pub fn begin(&mut self, client: usize, now: SimTime) -> RequestState {
        self.client(client).begin(now)
    }

    /// Records the outcome of an attempt of one of client `client`'s
    /// requests and decides what comes next. As
    /// [`RetryPolicy::on_outcome`](super::RetryPolicy::on_outcome).
    #[inline]
    pub fn on_outcome(
        &mut self,
        client: usize,
        now: SimTime,
        request: &mut RequestState,
        outcome: Outcome,
        rng: &mut dyn RngCore,
    ) -> Decision {
        // The parameters are read while one client's state is borrowed.
        client_of(
            self.clients,
            &mut self.budgets,
            &mut self.breakers,
            &mut self.throttles,
            client,
        )
        .on_outcome(&self.config, now, request, outcome, rng)
    }

    /// When the attempt sent at `now` times out (the same for every
    /// client). As
    /// [`RetryPolicy::attempt_deadline`](super::RetryPolicy::attempt_deadline).
    #[inline]
    pub fn attempt_deadline(&self, now: SimTime, request: &RequestState) -> Option<SimTime> {
        attempt_deadline(&self.config, now, request)
    }
}

/// Client `i`'s parts, borrowed field by field (so that the population's
/// parameters stay readable beside them).
#[inline]
fn client_of<'a>(
    clients: u32,
    budgets: &'a mut Budgets,
    breakers: &'a mut [CircuitBreaker],
    throttles: &'a mut [AdaptiveThrottle],
    i: usize,
) -> Client<'a> {
    assert!(i < clients as usize, "client {i} of {clients}");
    Client {
        budget: match budgets {
            Budgets::None => None,
            Budgets::TokenBucket(v) => Some(BudgetMut::TokenBucket(&mut v[i])),
            Budgets::Quota(v) => Some(BudgetMut::Quota(&mut v[i])),
            Budgets::Ratio(v) => Some(BudgetMut::Ratio(&mut v[i])),
        },
        breaker: breakers.get_mut(i),
        throttle: throttles.get_mut(i),
    }
}
