//! Attribute values (`AnyValue`) to JSON, text and labels, and resource attributes to labels,
//! all bounded by [`Limits`].

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::proto::common::v1::{any_value::Value, AnyValue, KeyValue};
use crate::proto::resource::v1::Resource;
use crate::{Labels, Limits, UNKNOWN_SERVICE};

/// Well-known resource attributes and the label each becomes; for `environment` the first
/// key present wins (the newer semantic-convention name comes first).
const RESOURCE_LABELS: &[(&str, &str)] = &[
    ("service.name", "service"),
    ("deployment.environment.name", "environment"),
    ("deployment.environment", "environment"),
    ("host.name", "host"),
    ("service.version", "release"),
    ("service.namespace", "namespace"),
];

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Lowercase hex of an id.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// A trace (16 bytes) or span (8 bytes) id as hex, or `None` when it is empty, all zero or of
/// another length.
pub(crate) fn valid_id(bytes: &[u8], len: usize) -> Option<String> {
    (bytes.len() == len && bytes.iter().any(|b| *b != 0)).then(|| hex(bytes))
}

/// The value of the first attribute named `key`.
pub(crate) fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// A scalar value as label text; `None` for arrays, kvlists and empty values.
pub(crate) fn scalar_text(value: &AnyValue, max_len: usize) -> Option<String> {
    match value.value.as_ref()? {
        Value::StringValue(s) => Some(truncate(s, max_len)),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        Value::BytesValue(b) => Some(truncate(
            &base64::engine::general_purpose::STANDARD.encode(b),
            max_len,
        )),
        Value::ArrayValue(_) | Value::KvlistValue(_) | Value::StringValueStrindex(_) => None,
    }
}

/// A value as text: scalars as [`scalar_text`], arrays and kvlists as JSON (used for log
/// bodies).
pub(crate) fn text(value: &AnyValue, limits: &Limits, max_len: usize) -> String {
    match scalar_text(value, max_len) {
        Some(s) => s,
        None => {
            let mut budget = limits.max_values_per_item;
            match to_json(value, 0, limits, &mut budget) {
                Json::Null => String::new(),
                json => truncate(&json.to_string(), max_len),
            }
        }
    }
}

/// A value as JSON. Containers nested `max_depth` deep, and every value once `budget` (values
/// converted so far for this item) runs out, become `null`.
pub(crate) fn to_json(value: &AnyValue, depth: usize, limits: &Limits, budget: &mut usize) -> Json {
    if *budget == 0 {
        return Json::Null;
    }
    *budget -= 1;
    let Some(value) = value.value.as_ref() else {
        return Json::Null;
    };
    match value {
        Value::StringValue(s) => Json::String(truncate(s, limits.max_string_len)),
        Value::BoolValue(b) => Json::Bool(*b),
        Value::IntValue(i) => Json::from(*i),
        // JSON has no NaN or infinity: keep them as text rather than lose them.
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(d.to_string())),
        Value::BytesValue(b) => Json::String(truncate(
            &base64::engine::general_purpose::STANDARD.encode(b),
            limits.max_string_len,
        )),
        Value::StringValueStrindex(_) => Json::Null,
        Value::ArrayValue(array) => {
            if depth >= limits.max_depth {
                return Json::Null;
            }
            Json::Array(
                array
                    .values
                    .iter()
                    .take(limits.max_attributes)
                    .map(|v| to_json(v, depth + 1, limits, budget))
                    .collect(),
            )
        }
        Value::KvlistValue(list) => {
            if depth >= limits.max_depth {
                return Json::Null;
            }
            let mut map = Map::new();
            insert_attributes(&mut map, &list.values, depth + 1, limits, budget);
            Json::Object(map)
        }
    }
}

/// Inserts up to `max_attributes` attributes into a JSON object (a later duplicate key wins).
fn insert_attributes(
    map: &mut Map<String, Json>,
    attrs: &[KeyValue],
    depth: usize,
    limits: &Limits,
    budget: &mut usize,
) {
    for kv in attrs {
        if map.len() >= limits.max_attributes && !map.contains_key(&kv.key) {
            break;
        }
        let value = match &kv.value {
            Some(v) => to_json(v, depth, limits, budget),
            None => Json::Null,
        };
        map.insert(truncate(&kv.key, limits.max_string_len), value);
    }
}

/// Attributes of one item as a JSON object, with a fresh value budget.
pub(crate) fn attributes_json(attrs: &[KeyValue], limits: &Limits) -> Map<String, Json> {
    let mut map = Map::new();
    let mut budget = limits.max_values_per_item;
    insert_attributes(&mut map, attrs, 0, limits, &mut budget);
    map
}

/// Adds scalar attributes as labels without overriding labels already set (resource labels
/// win), at most `max_attributes` of them.
pub(crate) fn add_attribute_labels(labels: &mut Labels, attrs: &[KeyValue], limits: &Limits) {
    let mut added = 0;
    for kv in attrs {
        if added >= limits.max_attributes {
            break;
        }
        let Some(text) = kv
            .value
            .as_ref()
            .and_then(|v| scalar_text(v, limits.max_label_len))
        else {
            continue;
        };
        let key = truncate(&kv.key, limits.max_label_len);
        if let std::collections::btree_map::Entry::Vacant(slot) = labels.entry(key) {
            slot.insert(text);
            added += 1;
        }
    }
}

/// The labels of a resource and its service name.
#[derive(Debug, Clone)]
pub(crate) struct ResourceInfo {
    pub service: String,
    pub labels: Labels,
}

/// Maps resource attributes to labels: the well-known ones renamed (`service.name` →
/// `service`...), other scalar ones kept under their own key, at most `max_resource_labels`.
pub(crate) fn resource_info(resource: Option<&Resource>, limits: &Limits) -> ResourceInfo {
    let attrs: &[KeyValue] = resource.map(|r| r.attributes.as_slice()).unwrap_or(&[]);
    let mut labels = Labels::new();
    for (key, label) in RESOURCE_LABELS {
        if labels.contains_key(*label) {
            continue;
        }
        if let Some(text) = find(attrs, key).and_then(|v| scalar_text(v, limits.max_label_len)) {
            if !text.is_empty() {
                labels.insert((*label).to_owned(), text);
            }
        }
    }
    let service = match labels.get("service") {
        Some(s) => s.clone(),
        None => {
            // The spec's fallback: "unknown_service:" followed by the executable name if known.
            let service = match find(attrs, "process.executable.name")
                .and_then(|v| scalar_text(v, limits.max_label_len))
            {
                Some(exe) if !exe.is_empty() => {
                    truncate(&format!("{UNKNOWN_SERVICE}:{exe}"), limits.max_label_len)
                }
                _ => UNKNOWN_SERVICE.to_owned(),
            };
            labels.insert("service".to_owned(), service.clone());
            service
        }
    };
    let mut others = 0;
    for kv in attrs {
        if others >= limits.max_resource_labels {
            break;
        }
        if RESOURCE_LABELS.iter().any(|(key, _)| *key == kv.key) {
            continue;
        }
        let Some(text) = kv
            .value
            .as_ref()
            .and_then(|v| scalar_text(v, limits.max_label_len))
        else {
            continue;
        };
        let key = truncate(&kv.key, limits.max_label_len);
        if let std::collections::btree_map::Entry::Vacant(slot) = labels.entry(key) {
            slot.insert(text);
            others += 1;
        }
    }
    ResourceInfo { service, labels }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::common::v1::{ArrayValue, KeyValueList};

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn ids_must_have_length_and_a_nonzero_byte() {
        assert_eq!(valid_id(&[0xab; 8], 8).as_deref(), Some("abababababababab"));
        assert_eq!(valid_id(&[0; 8], 8), None);
        assert_eq!(valid_id(&[1; 7], 8), None);
        assert_eq!(valid_id(&[], 16), None);
    }

    #[test]
    fn resource_labels_renamed_and_bounded() {
        let resource = Resource {
            attributes: vec![
                kv("service.name", Value::StringValue("checkout".into())),
                kv("deployment.environment", Value::StringValue("old".into())),
                kv(
                    "deployment.environment.name",
                    Value::StringValue("prod".into()),
                ),
                kv("host.name", Value::StringValue("web-1".into())),
                kv("service.version", Value::StringValue("1.4.2".into())),
                kv("service.namespace", Value::StringValue("shop".into())),
                kv("k8s.pod.uid", Value::IntValue(7)),
                kv("list", Value::ArrayValue(ArrayValue::default())),
                kv("extra", Value::BoolValue(true)),
            ],
            ..Default::default()
        };
        let limits = Limits {
            max_resource_labels: 1,
            ..Limits::default()
        };
        let info = resource_info(Some(&resource), &limits);
        assert_eq!(info.service, "checkout");
        let expected: Labels = [
            ("service", "checkout"),
            ("environment", "prod"),
            ("host", "web-1"),
            ("release", "1.4.2"),
            ("namespace", "shop"),
            ("k8s.pod.uid", "7"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(info.labels, expected);
    }

    #[test]
    fn missing_service_name_is_unknown_service() {
        assert_eq!(
            resource_info(None, &Limits::default()).service,
            "unknown_service"
        );
        let resource = Resource {
            attributes: vec![kv(
                "process.executable.name",
                Value::StringValue("java".into()),
            )],
            ..Default::default()
        };
        let info = resource_info(Some(&resource), &Limits::default());
        assert_eq!(info.service, "unknown_service:java");
        assert_eq!(info.labels["service"], "unknown_service:java");
    }

    #[test]
    fn deep_values_become_null_and_budget_caps_size() {
        // [[[["x"]]]] nested five arrays deep.
        let mut value = AnyValue {
            value: Some(Value::StringValue("x".into())),
        };
        for _ in 0..5 {
            value = AnyValue {
                value: Some(Value::ArrayValue(ArrayValue {
                    values: vec![value],
                })),
            };
        }
        let limits = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        let mut budget = 100;
        assert_eq!(
            to_json(&value, 0, &limits, &mut budget),
            serde_json::json!([[null]])
        );

        let wide = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: (0..10)
                    .map(|i| kv(&format!("k{i}"), Value::IntValue(i)))
                    .collect(),
            })),
        };
        let mut budget = 4; // the kvlist itself and three entries
        let json = to_json(&wide, 0, &Limits::default(), &mut budget);
        let obj = json.as_object().cloned().unwrap_or_default();
        assert_eq!(obj.len(), 10);
        assert_eq!(obj.values().filter(|v| !v.is_null()).count(), 3);
    }

    #[test]
    fn non_finite_doubles_kept_as_text() {
        let v = AnyValue {
            value: Some(Value::DoubleValue(f64::NAN)),
        };
        let mut budget = 1;
        assert_eq!(
            to_json(&v, 0, &Limits::default(), &mut budget),
            Json::String("NaN".into())
        );
    }
}
