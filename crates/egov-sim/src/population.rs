//! A seeded synthetic population: people with resident numbers, fingerprints, households
//! and addresses, and the document data of each of the 66 types for them (or for a
//! parcel or building by its address). The same seed gives the same population, and the
//! same person gets the same data every time. Synthetic only: no real person is in it.

use kiosk_render::{Template, synthetic_data};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One synthetic person.
#[derive(Debug, Clone)]
pub struct Person {
    /// Name in Hangul.
    pub name: String,
    /// Resident number, 13 digits.
    pub rrn: String,
    /// The fingerprint template the scanner would read.
    pub fingerprint: Vec<u8>,
    /// Home address.
    pub address: String,
    /// Household members' names (the person first).
    pub household: Vec<String>,
}

/// The population.
#[derive(Debug, Clone)]
pub struct Population {
    seed: u64,
    people: Vec<Person>,
}

const FAMILY: [&str; 12] = [
    "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오",
];
const GIVEN: [&str; 16] = [
    "민준", "서연", "도윤", "하은", "지호", "수아", "예준", "지민", "시우", "서윤", "영수", "순자",
    "정희", "철수", "미경", "현우",
];
const STREETS: [&str; 8] = [
    "서초대로",
    "반포대로",
    "강남대로",
    "남부순환로",
    "방배로",
    "효령로",
    "사평대로",
    "양재대로",
];

/// People in a population.
pub const PEOPLE: usize = 200;

impl Population {
    /// The population of `seed`.
    pub fn new(seed: u64) -> Population {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut people = Vec::with_capacity(PEOPLE);
        for i in 0..PEOPLE {
            let year = rng.random_range(40..=99u32);
            let month = rng.random_range(1..=12u32);
            let day = rng.random_range(1..=28u32);
            let sex = if rng.random_bool(0.5) { 1 } else { 2 };
            let tail: u32 = rng.random_range(0..1_000_000);
            let rrn = format!("{year:02}{month:02}{day:02}{sex}{tail:06}");
            let name = format!(
                "{}{}",
                FAMILY[rng.random_range(0..FAMILY.len())],
                GIVEN[rng.random_range(0..GIVEN.len())]
            );
            let address = format!(
                "서울특별시 서초구 {} {}, {}동 {}호",
                STREETS[rng.random_range(0..STREETS.len())],
                rng.random_range(1..400),
                rng.random_range(101..120),
                rng.random_range(101..1500)
            );
            let members = rng.random_range(0..5);
            let mut household = vec![name.clone()];
            for _ in 0..members {
                household.push(format!(
                    "{}{}",
                    &name[..3],
                    GIVEN[rng.random_range(0..GIVEN.len())]
                ));
            }
            let fingerprint = Sha256::digest(format!("fingerprint:{seed}:{i}:{rrn}")).to_vec();
            people.push(Person {
                name,
                rrn,
                fingerprint,
                address,
                household,
            });
        }
        Population { seed, people }
    }

    /// Everyone.
    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// The person with this resident number.
    pub fn by_rrn(&self, rrn: &str) -> Option<(usize, &Person)> {
        self.people.iter().enumerate().find(|(_, p)| p.rrn == rrn)
    }

    /// The document data of `template` for person `who`: the template's synthetic shape,
    /// seeded by person and type, with the subject's own name, number and address.
    pub fn personal_data(&self, template: &Template, who: usize) -> Value {
        let p = &self.people[who % self.people.len()];
        let seed = self.seed ^ hash(&format!("{}:{}", p.rrn, template.code));
        let mut v = synthetic_data(template, seed, None);
        let mut first_name = true;
        let mut first_rrn = true;
        let mut first_address = true;
        personalise(
            &mut v,
            p,
            &mut first_name,
            &mut first_rrn,
            &mut first_address,
        );
        v
    }

    /// The document data of `template` for a parcel or building at `address`.
    pub fn property_data(&self, template: &Template, address: &str) -> Value {
        let seed = self.seed ^ hash(&format!("{address}:{}", template.code));
        let mut v = synthetic_data(template, seed, None);
        let mut done = false;
        set_first(
            &mut v,
            &|k| k.contains("address") || k == "location",
            address,
            &mut done,
        );
        v
    }
}

fn hash(s: &str) -> u64 {
    let d = Sha256::digest(s.as_bytes());
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Puts the subject's own details in the first name, resident-number and address fields.
fn personalise(v: &mut Value, p: &Person, name: &mut bool, rrn: &mut bool, addr: &mut bool) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if x.is_string() {
                    if *name && (k == "name" || k.ends_with("_name")) {
                        *x = Value::String(p.name.clone());
                        *name = false;
                    } else if *rrn && (k == "rrn" || k.ends_with("_rrn")) {
                        *x = Value::String(format!("{}-{}", &p.rrn[..6], &p.rrn[6..]));
                        *rrn = false;
                    } else if *addr && (k == "address" || k.ends_with("_address")) {
                        *x = Value::String(p.address.clone());
                        *addr = false;
                    }
                } else {
                    personalise(x, p, name, rrn, addr);
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                personalise(x, p, name, rrn, addr);
            }
        }
        _ => {}
    }
}

fn set_first(v: &mut Value, key: &dyn Fn(&str) -> bool, value: &str, done: &mut bool) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if *done {
                    return;
                }
                if x.is_string() && key(k) {
                    *x = Value::String(value.to_owned());
                    *done = true;
                } else {
                    set_first(x, key, value, done);
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                set_first(x, key, value, done);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_people() {
        let a = Population::new(7);
        let b = Population::new(7);
        assert_eq!(a.people()[17].rrn, b.people()[17].rrn);
        assert_eq!(a.people()[17].fingerprint, b.people()[17].fingerprint);
        assert_ne!(a.people()[17].rrn, Population::new(8).people()[17].rrn);
        for p in a.people() {
            assert_eq!(p.rrn.len(), 13);
            assert!(p.rrn.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
