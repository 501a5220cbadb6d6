"""A SimPy model whose clients route their requests through drainstorm's
Maglev and retry with drainstorm's gRPC retry policy.

Eight servers (SimPy resources, one request at a time, exponential
service); clients send keyed requests; each attempt goes to the server
Maglev picks for its key, times out after the policy's attempt timeout,
and is retried after the policy's backoff. Halfway through, server 0 is
drained (its weight set to 0): Maglev moves only its keys.

    python examples/simpy_maglev.py
"""

import random

import simpy

import drainstorm

SERVERS = 8
RATE = 60.0          # requests per second
SERVICE = 0.1        # mean seconds per request
DURATION = 120.0


def model(seed: int = 1):
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = [simpy.Resource(env, capacity=1) for _ in range(SERVERS)]
    lb = drainstorm.Maglev([1] * SERVERS, seed=seed)
    policy = drainstorm.Policy("grpc", seed=seed)
    stats = {"ok": 0, "failed": 0, "refused": 0, "attempts": 0, "served_by": [0] * SERVERS}

    def serve(server, done):
        with servers[server].request() as slot:
            yield slot
            yield env.timeout(rng.expovariate(1.0 / SERVICE))
        if not done.triggered:
            done.succeed(server)

    def request(key):
        if policy.admit(env.now) is not None:
            stats["refused"] += 1
            return
        r = policy.begin(env.now)
        while True:
            server = lb.pick(key)
            stats["attempts"] += 1
            done = env.event()
            with lb.begin(server):
                env.process(serve(server, done))
                deadline = policy.attempt_deadline(env.now, r)
                wait = env.timeout(deadline - env.now) if deadline is not None else env.event()
                yield done | wait
            outcome = "success" if done.triggered else "timeout"
            decision, value = policy.on_outcome(env.now, r, outcome)
            if decision == "done":
                stats["ok"] += 1
                stats["served_by"][server] += 1
                return
            if decision == "give-up":
                stats["failed"] += 1
                return
            yield env.timeout(value)

    def clients():
        while env.now < DURATION:
            yield env.timeout(rng.expovariate(RATE))
            env.process(request(rng.randrange(1_000_000)))

    def drain():
        yield env.timeout(DURATION / 2)
        lb.update([0] + [1] * (SERVERS - 1))

    env.process(clients())
    env.process(drain())
    env.run(until=DURATION + 30)
    return stats


if __name__ == "__main__":
    s = model()
    print(f"{s['ok']} succeeded, {s['failed']} failed, {s['refused']} refused, "
          f"{s['attempts']} attempts; served per server: {s['served_by']}")
