//! Hash layouts differ between sites, as real proxies' do: the hashing
//! balancers place backends by identity (`Backend::hash_key`), and the
//! simulator gives every backend an identity unique across the topology.

use drainstorm::balancer::{Backend, BackendId, BalancerKind};
use drainstorm::sim::{BackendGroup, SiteConfig};

const KEYS: u64 = 100_000;
const HASHING: [BalancerKind; 3] = [
    BalancerKind::Ring,
    BalancerKind::Maglev,
    BalancerKind::BoundedLoad,
];

fn site(name: &str, group: Option<&str>) -> SiteConfig {
    let text = format!(
        r#"
        name = "{name}"
        backends = [{{ count = 8, slots = 2, service = {{ dist = "exponential", mean = "20ms" }} }}]
        "#
    );
    let mut site: SiteConfig = toml::from_str(&text).unwrap();
    site.backends[0].name = group.map(str::to_owned);
    site
}

/// Backends numbered 0..8 in the site's order, placed by the site's keys.
fn members(site: &SiteConfig) -> Vec<Backend> {
    site.backend_hash_keys()
        .into_iter()
        .enumerate()
        .map(|(i, k)| Backend::new(i as u32, 1).with_hash_key(k))
        .collect()
}

/// The fraction of keys that two balancers send to the same position.
fn agreement(kind: BalancerKind, a: &[Backend], b: &[Backend]) -> f64 {
    let (x, y) = (kind.build(a, 1).unwrap(), kind.build(b, 2).unwrap());
    let same = (0..KEYS)
        .filter(|&k| {
            let key = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x.pick(key) == y.pick(key)
        })
        .count();
    same as f64 / KEYS as f64
}

#[test]
fn two_sites_of_equal_size_have_independent_layouts() {
    let (east, west) = (members(&site("east", None)), members(&site("west", None)));
    for kind in HASHING {
        let f = agreement(kind, &east, &west);
        eprintln!("{kind:?}: {f:.4} of keys on the same position in both sites");
        // Independent layouts agree on 1/8 of the keys; ring arcs make the
        // fraction vary by about ±0.01 from one pair of sites to another.
        assert!((f - 0.125).abs() < 0.03, "{kind:?}: {f}");
    }
}

#[test]
fn numbering_alone_gives_every_site_the_same_layout() {
    // What the hashing balancers saw before backends had identities: ids
    // 0..8 in every site, hence one layout everywhere.
    let plain: Vec<Backend> = (0..8).map(|i| Backend::new(i, 1)).collect();
    for kind in HASHING {
        assert_eq!(agreement(kind, &plain, &plain), 1.0, "{kind:?}");
    }
}

#[test]
fn a_group_named_alike_in_two_sites_is_one_backend_pool() {
    let east = members(&site("east", Some("pool")));
    let west = members(&site("west", Some("pool")));
    for kind in HASHING {
        assert_eq!(agreement(kind, &east, &west), 1.0, "{kind:?}");
    }
}

#[test]
fn identities_are_unique_across_a_topology() {
    let mut keys: Vec<u64> = ["cys", "dfw", "ord", "iad"]
        .iter()
        .flat_map(|s| site(s, None).backend_hash_keys())
        .collect();
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n);
}

#[test]
fn a_new_hash_key_under_an_old_id_moves_that_backends_keys() {
    let before: Vec<Backend> = (0..8).map(|i| Backend::new(i, 1)).collect();
    let mut after = before.clone();
    after[3] = after[3].with_hash_key(0xfeed_f00d_dead_beef);
    for kind in [BalancerKind::Ring, BalancerKind::Maglev] {
        let lb = kind.build(&before, 1).unwrap();
        let owned: Vec<u64> = (0..KEYS)
            .filter(|&k| lb.pick(k) == Some(BackendId(3)))
            .collect();
        lb.update(&after).unwrap();
        let fresh = kind.build(&after, 1).unwrap();
        let moved = owned
            .iter()
            .filter(|&&k| lb.pick(k) != Some(BackendId(3)))
            .count();
        // The updated balancer equals one built afresh over the new keys.
        assert!((0..KEYS).all(|k| lb.pick(k) == fresh.pick(k)), "{kind:?}");
        // And backend 3 kept only the keys its new placement happens to
        // give it again (about 1/8 of them).
        assert!(
            moved > owned.len() / 2,
            "{kind:?}: {moved} of {}",
            owned.len()
        );
    }
}

#[test]
fn the_group_name_is_checked() {
    let mut config = drainstorm::sim::SimConfig::example();
    let g = BackendGroup {
        name: Some("web".into()),
        ..config.sites[0].backends[0].clone()
    };
    config.sites[0].backends = vec![g.clone(), g];
    let err = config.validate().unwrap_err();
    assert_eq!(err.path(), Some("sites[0].backends[1].name"));
}
