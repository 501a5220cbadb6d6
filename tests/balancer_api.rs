//! The public balancer API: construction errors, updates, in-flight counts.

use drainstorm::balancer::{
    Backend, BackendId, Balancer, BalancerError, BalancerKind, BoundedLoad, BoundedParams,
    LeastConn, Maglev, MaglevParams, Ring, RingParams, SmoothWrr,
};

fn all_kinds(backends: &[Backend]) -> Vec<Result<Box<dyn Balancer>, BalancerError>> {
    BalancerKind::ALL
        .iter()
        .map(|k| k.build(backends, 1))
        .collect()
}

#[test]
fn no_backends_is_an_error_for_every_kind() {
    for r in all_kinds(&[]) {
        assert_eq!(r.err(), Some(BalancerError::NoBackends));
    }
}

#[test]
fn duplicate_ids_are_an_error_for_every_kind() {
    let b = [Backend::new(3, 1), Backend::new(4, 1), Backend::new(3, 2)];
    for r in all_kinds(&b) {
        assert_eq!(r.err(), Some(BalancerError::DuplicateId(BackendId(3))));
    }
}

#[test]
fn too_many_backends_is_an_error() {
    let b: Vec<Backend> = (0..=drainstorm::balancer::MAX_BACKENDS as u32)
        .map(|i| Backend::new(i, 1))
        .collect();
    let err = SmoothWrr::new(&b).unwrap_err();
    assert_eq!(
        err,
        BalancerError::TooManyBackends {
            count: 65537,
            max: 65536
        }
    );
}

#[test]
fn all_drained_picks_none_for_every_kind() {
    let b = [Backend::new(1, 0), Backend::new(2, 0)];
    for lb in all_kinds(&b) {
        let lb = lb.unwrap();
        assert_eq!(lb.pick(5), None, "{}", lb.name());
        assert_eq!(lb.picker().pick(5), None, "{}", lb.name());
    }
}

#[test]
fn weights_near_u32_max_work_for_every_kind() {
    let b = [
        Backend::new(1, u32::MAX),
        Backend::new(2, u32::MAX - 1),
        Backend::new(3, 1),
    ];
    for lb in all_kinds(&b) {
        let lb = lb.unwrap();
        let mut p = lb.picker();
        for k in 0..1000 {
            assert!(p.pick(k).is_some(), "{}", lb.name());
        }
    }
}

#[test]
fn failed_update_changes_nothing() {
    for lb in all_kinds(&[Backend::new(1, 1), Backend::new(2, 1)]) {
        let lb = lb.unwrap();
        assert_eq!(lb.update(&[]), Err(BalancerError::NoBackends));
        assert_eq!(
            lb.update(&[Backend::new(9, 1), Backend::new(9, 1)]),
            Err(BalancerError::DuplicateId(BackendId(9)))
        );
        assert_eq!(lb.backends().len(), 2);
        assert!(lb.pick(1).is_some());
    }
}

#[test]
fn invalid_parameters_name_the_parameter() {
    let b = [Backend::new(1, 1)];
    let err = Maglev::with_table_size(&b, 65536).unwrap_err();
    assert!(matches!(
        err,
        BalancerError::InvalidParameter {
            name: "table_size",
            ..
        }
    ));
    assert!(err.to_string().contains("table_size = 65536"), "{err}");
    for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = BoundedLoad::with_epsilon(&b, eps).unwrap_err();
        assert!(matches!(
            err,
            BalancerError::InvalidParameter {
                name: "epsilon",
                ..
            }
        ));
    }
    let err = Ring::with_params(
        &b,
        RingParams {
            points_per_weight: 0,
        },
        0,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        BalancerError::InvalidParameter {
            name: "points_per_weight",
            ..
        }
    ));
    let ok = Maglev::with_params(&b, MaglevParams { table_size: 251 }, 0).unwrap();
    assert_eq!(ok.pick(0), Some(BackendId(1)));
    let p = BoundedParams {
        epsilon: 0.5,
        points_per_weight: 40,
    };
    assert!(BoundedLoad::with_params(&b, p, 0).is_ok());
}

#[test]
fn in_flight_counts_survive_updates_and_guards_finish() {
    for lb in all_kinds(&[Backend::new(1, 1), Backend::new(2, 1)]) {
        let lb = lb.unwrap();
        assert!(lb.start(BackendId(1)));
        assert!(lb.start(BackendId(1)));
        let guard = lb.begin(BackendId(2)).unwrap();
        assert!(!lb.start(BackendId(99)));
        assert!(lb.begin(BackendId(99)).is_none());
        // Drain 1, add 3: 1 keeps its count while drained.
        lb.update(&[Backend::new(1, 0), Backend::new(2, 1), Backend::new(3, 1)])
            .unwrap();
        assert_eq!(lb.in_flight(BackendId(1)), Some(2));
        assert_eq!(lb.in_flight(BackendId(2)), Some(1));
        assert_eq!(lb.in_flight(BackendId(3)), Some(0));
        assert!(lb.finish(BackendId(1)));
        assert!(lb.finish(BackendId(1)));
        assert!(!lb.finish(BackendId(1)), "never below zero");
        // Remove 2 while its guard is alive: dropping it later is harmless.
        lb.update(&[Backend::new(1, 1), Backend::new(3, 1)])
            .unwrap();
        drop(guard);
        assert_eq!(lb.in_flight(BackendId(2)), None);
        lb.update(&[Backend::new(1, 1), Backend::new(2, 1)])
            .unwrap();
        assert_eq!(
            lb.in_flight(BackendId(2)),
            Some(0),
            "a re-added backend starts at 0"
        );
    }
}

#[test]
fn drained_backend_is_never_picked_after_update() {
    for lb in all_kinds(&[Backend::new(1, 1), Backend::new(2, 3), Backend::new(3, 2)]) {
        let lb = lb.unwrap();
        let mut picker = lb.picker();
        for k in 0..100 {
            picker.pick(k);
        }
        lb.update(&[Backend::new(1, 1), Backend::new(2, 0), Backend::new(3, 2)])
            .unwrap();
        for k in 0..10_000 {
            assert_ne!(picker.pick(k), Some(BackendId(2)), "{}", lb.name());
            assert_ne!(lb.pick(k), Some(BackendId(2)), "{}", lb.name());
        }
    }
}

#[test]
fn kinds_parse_and_report_their_names() {
    for kind in BalancerKind::ALL {
        assert_eq!(kind.name().parse::<BalancerKind>(), Ok(kind));
        let lb = kind.build(&[Backend::new(0, 1)], 0).unwrap();
        assert_eq!(lb.name(), kind.name());
    }
    let err = "round-robin".parse::<BalancerKind>().unwrap_err();
    assert!(err.to_string().contains("smooth-wrr"), "{err}");
}

#[test]
fn balancers_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SmoothWrr>();
    check::<Maglev>();
    check::<Box<dyn Balancer>>();
    fn send<T: Send>() {}
    send::<drainstorm::balancer::Handle<drainstorm::balancer::MaglevTable>>();
}

#[test]
fn a_reused_counter_slot_is_not_touched_by_its_old_owner() {
    for lb in all_kinds(&[Backend::new(1, 1), Backend::new(2, 1)]) {
        let lb = lb.unwrap();
        let old_guard = lb.begin(BackendId(2)).unwrap();
        let mut stale = lb.picker();
        assert!(stale.start(BackendId(2)));
        // 2 leaves; 5 arrives and takes over its counter slot.
        lb.update(&[Backend::new(1, 1)]).unwrap();
        lb.update(&[Backend::new(1, 1), Backend::new(5, 1)])
            .unwrap();
        assert!(lb.start(BackendId(5)));
        drop(old_guard);
        assert!(!stale.finish(BackendId(2)), "2 is gone");
        assert_eq!(lb.in_flight(BackendId(5)), Some(1), "{}", lb.name());
        assert!(lb.finish(BackendId(5)));
        assert_eq!(lb.in_flight(BackendId(5)), Some(0));
    }
}

#[test]
fn a_guard_outliving_its_pool_touches_no_later_pool() {
    // Counters outlive pools (a dropped pool's chunks are reused by later
    // ones, every slot retired): the old guard's drop must change nothing.
    let old = LeastConn::new(&[Backend::new(0, 1)]).unwrap();
    let guard = old.begin(BackendId(0)).unwrap();
    drop(old);
    let pools: Vec<_> = (0..8)
        .map(|_| LeastConn::new(&[Backend::new(0, 1)]).unwrap())
        .collect();
    for p in &pools {
        assert!(p.start(BackendId(0)));
    }
    drop(guard);
    for p in &pools {
        assert_eq!(p.in_flight(BackendId(0)), Some(1));
    }
}

#[test]
fn a_bounded_load_guard_outliving_its_pool_leaves_later_totals_alone() {
    // The balancer-wide total outlives its pool too (its word is reused by
    // later pools, its generation bumped): the old guard's finish must
    // not lower a later pool's total.
    let old = BoundedLoad::new(&[Backend::new(0, 1), Backend::new(1, 1)]).unwrap();
    let guard = old.begin(BackendId(0)).unwrap();
    drop(old);
    let pools: Vec<_> = (0..8)
        .map(|_| BoundedLoad::new(&[Backend::new(0, 1), Backend::new(1, 1)]).unwrap())
        .collect();
    for p in &pools {
        assert!(p.start(BackendId(0)));
    }
    drop(guard);
    for p in &pools {
        assert_eq!(p.total_in_flight(), 1);
        assert_eq!(p.in_flight(BackendId(0)), Some(1));
    }
}
