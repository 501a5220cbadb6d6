//! How a profile's one table splits into the profile's own keys and its
//! scenario's.
//!
//! A profile file is a [`SimConfig`] with a few keys of its own (`name`,
//! `description`, `clock_start`, `time_scale`, `compare`, `policies`) at
//! the same level. [`Profile`] holds the scenario as a `SimConfig`, so each
//! of the scenario's keys is defined once, in `sim::config`. serde's
//! `flatten` would express that for reading too, but it cannot refuse
//! unknown keys and it buffers the scenario's values, which loses the line
//! and column of an error inside them. So reading is done here: the
//! scenario is deserialized by `SimConfig`'s own derived code over the
//! profile's table, through a map that takes the profile's own keys out as
//! it meets them. Every value is read by the format's own deserializer,
//! so every error keeps its position; a key that neither the profile nor
//! the scenario knows is refused with the full list of both.
//!
//! Writing uses `flatten` (`Profile`'s derived `Serialize`), which has
//! neither problem.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor, value};
use serde::{Deserialize, forward_to_deserialize_any};

use super::{Compare, Profile};
use crate::retry::PolicyConfig;
use crate::sim::SimConfig;

/// The profile's own keys, in the order it prints them.
const OWN: [&str; 7] = [
    "name",
    "description",
    "clock_start",
    "time_scale",
    "scale",
    "compare",
    "policies",
];

impl<'de> Deserialize<'de> for Profile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("Profile", &OWN, ProfileVisitor)
    }
}

/// The profile's own keys as read so far.
#[derive(Default)]
struct Own {
    name: Option<String>,
    description: Option<String>,
    clock_start: Option<Option<String>>,
    time_scale: Option<Option<f64>>,
    scale: Option<f64>,
    compare: Option<Compare>,
    policies: Option<BTreeMap<String, PolicyConfig>>,
}

impl Own {
    /// Reads the value of own key number `i` from `map`.
    fn read<'de, A: MapAccess<'de>>(&mut self, i: usize, map: &mut A) -> Result<(), A::Error> {
        fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
            slot: &mut Option<T>,
            key: &'static str,
            map: &mut A,
        ) -> Result<(), A::Error> {
            if slot.is_some() {
                return Err(de::Error::duplicate_field(key));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }
        match i {
            0 => once(&mut self.name, OWN[0], map),
            1 => once(&mut self.description, OWN[1], map),
            2 => once(&mut self.clock_start, OWN[2], map),
            3 => once(&mut self.time_scale, OWN[3], map),
            4 => once(&mut self.scale, OWN[4], map),
            5 => once(&mut self.compare, OWN[5], map),
            _ => once(&mut self.policies, OWN[6], map),
        }
    }
}

struct ProfileVisitor;

impl<'de> Visitor<'de> for ProfileVisitor {
    type Value = Profile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a profile table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Profile, A::Error> {
        let mut own = Own::default();
        let scenario = SimConfig::deserialize(Scenario(Split {
            map,
            own: &mut own,
            fields: &[],
        }))?;
        Ok(Profile {
            name: own.name.ok_or_else(|| de::Error::missing_field("name"))?,
            description: own.description.unwrap_or_default(),
            clock_start: own.clock_start.flatten(),
            time_scale: own.time_scale.flatten(),
            scale: own.scale.unwrap_or(1.0),
            compare: own.compare.unwrap_or_default(),
            policies: own.policies.unwrap_or_default(),
            scenario,
        })
    }
}

/// The profile's map as the scenario sees it: the profile's own keys
/// taken out.
struct Split<'a, A> {
    map: A,
    own: &'a mut Own,
    /// The scenario's keys (from its derived code).
    fields: &'static [&'static str],
}

/// A key of the profile's table: one of its own, or the scenario's.
enum Key<V> {
    Own(usize),
    Scenario(V),
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Split<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut seed = Some(seed);
        loop {
            let key = KeySeed {
                seed: &mut seed,
                fields: self.fields,
            };
            match self.map.next_key_seed(key)? {
                // The profile's required key is missed before any of the
                // scenario's (which its derived code checks after this).
                None if self.own.name.is_none() => return Err(de::Error::missing_field("name")),
                None => return Ok(None),
                Some(Key::Scenario(v)) => return Ok(Some(v)),
                Some(Key::Own(i)) => self.own.read(i, &mut self.map)?,
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Reads one key inside the format's own key deserializer, so that an
/// error (an unknown key) gets the key's position.
struct KeySeed<'s, K> {
    seed: &'s mut Option<K>,
    fields: &'static [&'static str],
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = Key<K::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let key = String::deserialize(deserializer)?;
        if let Some(i) = OWN.iter().position(|k| *k == key) {
            return Ok(Key::Own(i));
        }
        if !self.fields.contains(&key.as_str()) {
            let allowed: Vec<String> = OWN
                .iter()
                .chain(self.fields)
                .map(|k| format!("`{k}`"))
                .collect();
            return Err(de::Error::custom(format_args!(
                "unknown field `{key}`, expected one of {}",
                allowed.join(", ")
            )));
        }
        let seed = self.seed.take().expect("a key is read once per seed");
        let key: value::StringDeserializer<D::Error> = key.into_deserializer();
        seed.deserialize(key).map(Key::Scenario)
    }
}

/// Hands the split map to the scenario's derived code, learning its keys.
struct Scenario<'a, A>(Split<'a, A>);

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Scenario<'_, A> {
    type Error = A::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.fields = fields;
        visitor.visit_map(self.0)
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"
        name = "tiny"
        duration = "10s"
        clock_start = "06:30"

        [[sites]]
        name = "east"
        backends = [{ count = 2, service = { dist = "exponential", mean = "10ms" } }]

        [[clients]]
        name = "web"
        workload = { kind = "open", rate = 50 }
        retry = "envoy"

        [compare]
        seeds = 3
    "#;

    #[test]
    fn own_keys_and_the_scenario_are_read_from_one_table_in_any_order() {
        let p: Profile = toml::from_str(TINY).unwrap();
        assert_eq!(p.name, "tiny");
        assert_eq!(p.clock_start.as_deref(), Some("06:30"));
        assert_eq!(p.compare.seeds, 3);
        assert_eq!(p.scenario.sites[0].name, "east");
        assert_eq!(p.scenario.duration.0, 10_000_000_000);
        assert_eq!(p.time_scale, None);
        // And what it prints reads back the same.
        let again: Profile = toml::from_str(&toml::to_string(&p).unwrap()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn an_unknown_key_lists_the_profiles_keys_and_the_scenarios_at_its_position() {
        let text = TINY.replace("clock_start", "clock_strat");
        let e = toml::from_str::<Profile>(&text).unwrap_err();
        assert!(
            e.message().starts_with(
                "unknown field `clock_strat`, expected one of `name`, `description`, \
                 `clock_start`, `time_scale`, `scale`, `compare`, `policies`, `seed`, `duration`"
            ),
            "{e}"
        );
        assert_eq!(e.span().map(|s| &text[s]), Some("clock_strat"));
    }

    #[test]
    fn an_error_inside_the_scenario_keeps_its_position() {
        let text = TINY.replace("count = 2", "count = \"two\"");
        let e = toml::from_str::<Profile>(&text).unwrap_err();
        assert_eq!(e.span().map(|s| &text[s]), Some("\"two\""), "{e}");
    }

    #[test]
    fn a_missing_name_or_a_repeated_own_key_is_refused() {
        let text = TINY.replace("name = \"tiny\"", "");
        let e = toml::from_str::<Profile>(&text).unwrap_err();
        assert!(e.message().contains("missing field `name`"), "{e}");
        // Formats that allow repeated keys get serde's duplicate error.
        let json = r#"{"name": "a", "name": "b", "duration": "1s", "sites": [], "clients": []}"#;
        let e = serde_json::from_str::<Profile>(json).unwrap_err();
        assert!(e.to_string().contains("duplicate field `name`"), "{e}");
    }
}
