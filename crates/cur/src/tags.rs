//! User tag keys across formats, and a JSON tag-object reader that writes straight into a
//! reused tag vector.
//!
//! Only user resource tags are kept (AWS-generated `aws:` tags, account tags, cost categories and
//! IAM principal tags are not resource tags of the customer's):
//! - legacy CSV column `resourceTags/user:Team` -> `Team`
//! - legacy Parquet column `resource_tags_user_team` -> `team` (AWS lower-cased it already)
//! - CUR 2.0 `resource_tags` map key `user_team` -> `team`
//! - CUR 2.0 `tags` map / FOCUS `Tags` key `resourceTags/user:Team` or `user:Team` -> `Team`, and a
//!   key without prefix (FOCUS user tags) is kept as is.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

use crate::item::set_str;

/// Writes tags into a reused vector, keeping the Strings' allocations; truncates on drop.
///
/// With a spare pool, the pairs a row with fewer tags cuts off wait there for the next row
/// with more tags, instead of being freed and allocated again.
pub(crate) struct TagWriter<'a> {
    tags: &'a mut Vec<(String, String)>,
    len: usize,
    spare: Option<&'a mut Vec<(String, String)>>,
}

impl<'a> TagWriter<'a> {
    pub(crate) fn new(tags: &'a mut Vec<(String, String)>) -> Self {
        TagWriter {
            tags,
            len: 0,
            spare: None,
        }
    }

    pub(crate) fn with_spare(
        tags: &'a mut Vec<(String, String)>,
        spare: &'a mut Vec<(String, String)>,
    ) -> Self {
        TagWriter {
            tags,
            len: 0,
            spare: Some(spare),
        }
    }

    /// Adds a tag unless its value is empty.
    #[inline]
    pub(crate) fn push(&mut self, key: &str, value: &str) {
        if value.is_empty() || key.is_empty() {
            return;
        }
        if self.len == self.tags.len() {
            let pair = self
                .spare
                .as_mut()
                .and_then(|s| s.pop())
                .unwrap_or_default();
            self.tags.push(pair);
        }
        let (k, v) = &mut self.tags[self.len];
        set_str(k, key);
        set_str(v, value);
        self.len += 1;
    }
}

impl Drop for TagWriter<'_> {
    fn drop(&mut self) {
        if self.tags.len() == self.len {
            return;
        }
        match self.spare.as_mut() {
            Some(spare) => spare.extend(self.tags.drain(self.len..)),
            None => self.tags.truncate(self.len),
        }
    }
}

/// `resourceTags/user:Team` -> `Team`.
pub(crate) fn legacy_csv_tag_key(header: &str) -> Option<&str> {
    header.strip_prefix("resourceTags/user:")
}

/// `resource_tags_user_team` -> `team`.
pub(crate) fn snake_tag_key(column: &str) -> Option<&str> {
    column.strip_prefix("resource_tags_user_")
}

/// How keys of a JSON/map tag column are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapKeys {
    /// CUR 2.0 `resource_tags`: `user_team`.
    Cur2ResourceTags,
    /// CUR 2.0 `tags` and FOCUS `Tags`: prefixed (`resourceTags/user:Team`, `user:Team`) or bare.
    Prefixed,
}

impl MapKeys {
    pub(crate) fn user_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        match self {
            MapKeys::Cur2ResourceTags => key.strip_prefix("user_"),
            MapKeys::Prefixed => {
                let key = match key.split_once('/') {
                    Some(("resourceTags", rest)) => rest,
                    Some(("accountTag" | "costCategory" | "userAttribute" | "iamPrincipal", _)) => {
                        return None
                    }
                    _ => key,
                };
                if key.starts_with("aws:") {
                    None
                } else {
                    Some(key.strip_prefix("user:").unwrap_or(key))
                }
            }
        }
    }
}

/// Parses a JSON object of tags into `out`. `null` values and empty strings are skipped; numbers
/// and booleans are kept as their JSON text.
pub(crate) fn read_json_tags(
    json: &[u8],
    keys: MapKeys,
    out: &mut TagWriter<'_>,
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    TagSeed { keys, out }.deserialize(&mut de)?;
    de.end()
}

struct TagSeed<'w, 'a> {
    keys: MapKeys,
    out: &'w mut TagWriter<'a>,
}

impl<'de> DeserializeSeed<'de> for TagSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TagSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tags")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value: TagValue<'de> = map.next_value()?;
            if let (Some(k), Some(v)) = (self.keys.user_key(&key), value.0) {
                self.out.push(k, &v);
            }
        }
        Ok(())
    }
}

struct TagValue<'de>(Option<Cow<'de, str>>);

impl<'de> de::Deserialize<'de> for TagValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TagValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a tag value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TagValue(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TagValue(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(TagValue(Some(Cow::Owned(v))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TagValue(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TagValue(None))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(TagValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TagValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(TagValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(TagValue(Some(Cow::Owned(v.to_string()))))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str, keys: MapKeys) -> Vec<(String, String)> {
        let mut tags = vec![("stale".to_owned(), "x".to_owned()); 3];
        {
            let mut w = TagWriter::new(&mut tags);
            read_json_tags(json.as_bytes(), keys, &mut w).unwrap();
        }
        tags
    }

    #[test]
    fn cur2_resource_tags_keep_user_tags_only() {
        let t = parse(
            r#"{"user_team":"data","aws_created_by":"x","user_cost_center":"","user_env":"prod"}"#,
            MapKeys::Cur2ResourceTags,
        );
        assert_eq!(
            t,
            vec![
                ("team".into(), "data".into()),
                ("env".into(), "prod".into())
            ]
        );
    }

    #[test]
    fn prefixed_keys_are_stripped_and_filtered() {
        let t = parse(
            r#"{"resourceTags/user:Team":"a \"quoted\" ünï","resourceTags/aws:createdBy":"b",
                "accountTag/dept":"c","user:Env":"prod","application":"app","aws:cloudformation:stack-name":"s",
                "n":1,"z":null}"#,
            MapKeys::Prefixed,
        );
        assert_eq!(
            t,
            vec![
                ("Team".into(), "a \"quoted\" ünï".into()),
                ("Env".into(), "prod".into()),
                ("application".into(), "app".into()),
                ("n".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn spare_pairs_are_reused() {
        let (mut tags, mut spare) = (Vec::new(), Vec::new());
        {
            let mut w = TagWriter::with_spare(&mut tags, &mut spare);
            w.push("a", "1");
            w.push("b", "2");
            w.push("c", "");
        }
        assert_eq!(
            tags,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        {
            let mut w = TagWriter::with_spare(&mut tags, &mut spare);
            w.push("x", "9");
        }
        assert_eq!(tags, vec![("x".into(), "9".into())]);
        assert_eq!(spare.len(), 1);
        {
            let mut w = TagWriter::with_spare(&mut tags, &mut spare);
            for k in ["p", "q", "r"] {
                w.push(k, k);
            }
        }
        assert_eq!(tags.len(), 3);
        assert_eq!(tags[2], ("r".into(), "r".into()));
        assert!(spare.is_empty());
    }

    #[test]
    fn json_null_and_garbage() {
        assert!(parse("null", MapKeys::Prefixed).is_empty());
        let mut tags = Vec::new();
        let mut w = TagWriter::new(&mut tags);
        assert!(read_json_tags(b"{\"a\":", MapKeys::Prefixed, &mut w).is_err());
        assert!(read_json_tags(b"[1]", MapKeys::Prefixed, &mut w).is_err());
    }
}
