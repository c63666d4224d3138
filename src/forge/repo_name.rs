//! Reading `repository.full_name` from a webhook body before its signature is checked.
//!
//! Every delivery pays for this, forged ones included, so it reads as little as it can: it
//! walks the top-level object key by key, skips values without building them, and stops as
//! soon as it has the name. GitHub puts `repository` fourth in a push, so a real push is
//! barely read; a body that hides it at the end is read once, at serde_json's skipping speed.
//! Nothing after the name is looked at, so a body that is malformed past that point still
//! yields it; that is harmless, as the name only chooses the secret to check the signature
//! with, and the signed body is parsed in full afterwards.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// `repository.full_name` of a webhook body; `None` if the body is not a JSON object with a
/// non-empty string there.
pub(super) fn repo_full_name(body: &[u8]) -> Option<String> {
    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    // Stopping early leaves the rest of the object unread, which serde_json reports as an
    // error once the visitor returns; so the name is handed out on the side, as soon as it
    // is read, and the error says nothing.
    let _ = Field {
        key: "repository",
        then: Field {
            key: "full_name",
            then: Name(&mut found),
        },
    }
    .deserialize(&mut deserializer);
    found.filter(|name| !name.is_empty())
}

/// The value under `key` of an object, read by `then`. Keys after the first `key` are not
/// read.
struct Field<T> {
    key: &'static str,
    then: T,
}

impl<'de, T> DeserializeSeed<'de> for Field<T>
where
    T: DeserializeSeed<'de, Value = ()>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T> Visitor<'de> for Field<T>
where
    T: DeserializeSeed<'de, Value = ()>,
{
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "an object with {}", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while let Some(is_wanted) = map.next_key_seed(KeyIs(self.key))? {
            if is_wanted {
                return map.next_value_seed(self.then);
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Whether an object key is the given one, compared where it lies in the body.
struct KeyIs(&'static str);

impl<'de> DeserializeSeed<'de> for KeyIs {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// A string value, kept as the name.
struct Name<'a>(&'a mut Option<String>);

impl<'de> DeserializeSeed<'de> for Name<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Name<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a repository name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        *self.0 = Some(name.to_owned());
        Ok(())
    }
}
