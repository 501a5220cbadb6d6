//! Benchmarks of drainstorm's balancers beside other crates' in one run
//! (`cargo bench -p drainstorm-peers`); the crate itself is empty. Kept
//! out of the root workspace's default members so that the kernels'
//! builds never compile the peers.
