//! Deserialising typed values out of [`Node`] trees, with located errors.

use super::error::ConfigError;
use super::node::{Key, Node, NodeKind};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// Deserialises `T` from `node`; `path` is the dotted path of `node`, used in errors.
///
/// Errors carry the position of the innermost offending value.
pub fn from_node<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, ConfigError> {
    T::deserialize(NodeDe {
        node,
        path: path.to_string(),
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl NodeDe<'_> {
    fn locate(&self, e: ConfigError) -> ConfigError {
        e.located(&self.node.span, &self.path)
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Node>,
    path: String,
    index: usize,
}

impl<'de, 'a> de::SeqAccess<'de> for SeqDe<'a> {
    type Error = ConfigError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ConfigError> {
        match self.items.next() {
            None => Ok(None),
            Some(n) => {
                let path = format!("{}[{}]", self.path, self.index);
                self.index += 1;
                let d = NodeDe { node: n, path };
                let span = n.span.clone();
                let p = d.path.clone();
                seed.deserialize(d)
                    .map(Some)
                    .map_err(|e| e.located(&span, &p))
            }
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, (Key, Node)>,
    current: Option<&'a (Key, Node)>,
    path: String,
}

impl<'de, 'a> de::MapAccess<'de> for MapDe<'a> {
    type Error = ConfigError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ConfigError> {
        match self.entries.next() {
            None => Ok(None),
            Some(entry) => {
                self.current = Some(entry);
                let k: de::value::StrDeserializer<'_, ConfigError> =
                    entry.0.name.as_str().into_deserializer();
                seed.deserialize(k)
                    .map(Some)
                    .map_err(|e| e.located(&entry.0.span, &self.path))
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ConfigError> {
        let (k, v) = self
            .current
            .take()
            .ok_or_else(|| ConfigError::new("value without key"))?;
        let path = join(&self.path, &k.name);
        let span = v.span.clone();
        seed.deserialize(NodeDe {
            node: v,
            path: path.clone(),
        })
        .map_err(|e| e.located(&span, &path))
    }
}

struct EnumDe<'a> {
    variant: &'a str,
    content: Option<&'a Node>,
    path: String,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumDe<'a> {
    type Error = ConfigError;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), ConfigError> {
        let k: de::value::StrDeserializer<'_, ConfigError> = self.variant.into_deserializer();
        let v = seed.deserialize(k)?;
        Ok((v, self))
    }
}

impl<'de, 'a> de::VariantAccess<'de> for EnumDe<'a> {
    type Error = ConfigError;
    fn unit_variant(self) -> Result<(), ConfigError> {
        match self.content {
            None => Ok(()),
            Some(n) if n.is_null() => Ok(()),
            Some(n) => Err(ConfigError::at(
                n,
                &self.path,
                format!("`{}` takes no arguments", self.variant),
            )),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ConfigError> {
        match self.content {
            Some(n) => seed.deserialize(NodeDe {
                node: n,
                path: join(&self.path, self.variant),
            }),
            None => Err(ConfigError::new(format!(
                "`{}` needs a value",
                self.variant
            ))),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        match self.content {
            Some(n) => de::Deserializer::deserialize_seq(
                NodeDe {
                    node: n,
                    path: join(&self.path, self.variant),
                },
                visitor,
            ),
            None => Err(ConfigError::new(format!("`{}` needs a list", self.variant))),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        match self.content {
            Some(n) => de::Deserializer::deserialize_map(
                NodeDe {
                    node: n,
                    path: join(&self.path, self.variant),
                },
                visitor,
            ),
            None => Err(ConfigError::new(format!("`{}` needs a map", self.variant))),
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = ConfigError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        let r = match &self.node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i) => visitor.visit_i64(*i),
            NodeKind::Float(x) => visitor.visit_f64(*x),
            NodeKind::Str(s) => visitor.visit_str(s),
            NodeKind::Seq(items) => visitor.visit_seq(SeqDe {
                items: items.iter(),
                path: self.path.clone(),
                index: 0,
            }),
            NodeKind::Map(entries) => visitor.visit_map(MapDe {
                entries: entries.iter(),
                current: None,
                path: self.path.clone(),
            }),
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        let r = match &self.node.kind {
            NodeKind::Map(entries) => visitor.visit_map(MapDe {
                entries: entries.iter(),
                current: None,
                path: self.path.clone(),
            }),
            NodeKind::Null => visitor.visit_map(MapDe {
                entries: [].iter(),
                current: None,
                path: self.path.clone(),
            }),
            _ => Err(ConfigError::new(format!(
                "expected a map, found {}",
                self.node.describe()
            ))),
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        let r = match &self.node.kind {
            NodeKind::Seq(items) => visitor.visit_seq(SeqDe {
                items: items.iter(),
                path: self.path.clone(),
                index: 0,
            }),
            _ => Err(ConfigError::new(format!(
                "expected a list, found {}",
                self.node.describe()
            ))),
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConfigError> {
        let r = match &self.node.kind {
            NodeKind::Str(s) => visitor.visit_enum(EnumDe {
                variant: s,
                content: None,
                path: self.path.clone(),
            }),
            NodeKind::Map(m) if m.len() == 1 => visitor.visit_enum(EnumDe {
                variant: &m[0].0.name,
                content: Some(&m[0].1),
                path: self.path.clone(),
            }),
            _ => Err(ConfigError::new(format!(
                "expected a name, found {}",
                self.node.describe()
            ))),
        };
        r.map_err(|e| self.locate(e))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        if self.node.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.locate(ConfigError::new(format!(
                "expected nothing (null), found {}",
                self.node.describe()
            ))))
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfigError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit_struct identifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_str;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        population: u32,
        #[serde(default)]
        rate: f64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Dir {
        Max,
        Min,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        name: String,
        inner: Inner,
        dirs: Vec<Dir>,
        maybe: Option<u64>,
    }

    fn parse(t: &str) -> Result<Outer, ConfigError> {
        from_node(&parse_str("c.yaml", t).unwrap(), "")
    }

    #[test]
    fn ok() {
        let o = parse("name: x\ninner: {population: 3, rate: 2}\ndirs: [max, min]\nmaybe: ~\n")
            .unwrap();
        assert_eq!(o.inner.rate, 2.0);
        assert_eq!(o.dirs, vec![Dir::Max, Dir::Min]);
        assert_eq!(o.maybe, None);
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let e = parse("name: x\ninner:\n  population: lots\ndirs: []\nmaybe: 1\n").unwrap_err();
        assert_eq!(e.path, "inner.population");
        let s = e.span.clone().unwrap();
        assert_eq!((s.line, s.col), (3, 15));
        assert!(
            e.message.contains("non-negative integer") && e.message.contains("lots"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_suggests() {
        let e = parse("name: x\ninner: {populaton: 3}\ndirs: []\nmaybe: 1\n").unwrap_err();
        assert!(e.message.contains("unknown key `populaton`"), "{e}");
        assert!(
            e.hint
                .as_deref()
                .unwrap()
                .contains("did you mean `population`"),
            "{e}"
        );
        assert_eq!(e.span.unwrap().line, 2);
    }

    #[test]
    fn unknown_variant_and_missing_field() {
        let e =
            parse("name: x\ninner: {population: 3}\ndirs: [max, maxi]\nmaybe: 1\n").unwrap_err();
        assert!(e.message.contains("`maxi`") && e.hint.unwrap().contains("`max`"));
        assert_eq!(e.path, "dirs[1]");
        let e = parse("name: x\ninner: {rate: 1}\ndirs: []\nmaybe: 1\n").unwrap_err();
        assert!(
            e.message.contains("missing required key `population`"),
            "{e}"
        );
        assert_eq!(e.path, "inner");
    }

    #[test]
    fn negative_for_unsigned() {
        let e = parse("name: x\ninner: {population: -3}\ndirs: []\nmaybe: 1\n").unwrap_err();
        assert!(e.message.contains("non-negative"), "{e}");
    }
}
