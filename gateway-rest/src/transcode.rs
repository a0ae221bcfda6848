//! REST request to protobuf message: the JSON body (all of it, or one
//! field), then path variables, then query parameters, merged into one JSON
//! object and read with the canonical proto3 JSON mapping. Errors name the
//! field at fault.

use std::collections::HashSet;

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use crate::percent;
use crate::routes::Route;

/// A request that cannot become the RPC's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    /// Field path (proto or JSON names, dotted), or `body`.
    pub field: String,
    /// What is wrong.
    pub description: String,
}

impl BadRequest {
    /// `field` is wrong: `description`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Builds the request message of `route` from the still percent-encoded
/// path `variables` ([`crate::routes::Template::captures`]), the raw query
/// and the body.
pub fn request(
    route: &Route,
    variables: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, BadRequest> {
    if route.body_required() && body.iter().all(u8::is_ascii_whitespace) {
        return Err(BadRequest::new(
            "body",
            match route.body.as_str() {
                "*" => format!("required: the {} as JSON", route.rpc.input().full_name()),
                field => format!("required: the request's `{field}` as JSON"),
            },
        ));
    }
    let root = match route.body.as_str() {
        "" => {
            if !body.is_empty() {
                return Err(BadRequest::new("body", "this route takes no request body"));
            }
            Map::new()
        }
        "*" => match parse_body(body)? {
            Value::Object(map) => map,
            _ => return Err(BadRequest::new("body", "must be a JSON object")),
        },
        field => {
            let mut map = Map::new();
            map.insert(field.to_owned(), parse_body(body)?);
            map
        }
    };
    message(route, root, variables, query)
}

/// An uploaded file: what the client said it is, and its bytes.
#[derive(Debug, Clone, Default)]
pub struct File {
    /// Its media type (may be empty).
    pub content_type: String,
    /// Its bytes.
    pub data: bytes::Bytes,
}

/// Builds the request message of an upload route
/// ([`Route::upload_field`]): the path variables and query parameters,
/// and `file` in the route's body field.
pub fn upload(
    route: &Route,
    variables: &[(String, String)],
    query: Option<&str>,
    file: File,
) -> Result<DynamicMessage, BadRequest> {
    let field = route
        .upload_field()
        .ok_or_else(|| BadRequest::new("body", "this route takes no file"))?;
    let mut message = message(route, Map::new(), variables, query)?;
    let Kind::Message(body_type) = field.kind() else {
        return Err(BadRequest::new(field.name(), "is not a file field"));
    };
    let mut body = DynamicMessage::new(body_type);
    body.try_set_field_by_name(
        "content_type",
        prost_reflect::Value::String(file.content_type),
    )
    .map_err(|e| BadRequest::new(field.name(), e.to_string()))?;
    body.try_set_field_by_name("data", prost_reflect::Value::Bytes(file.data))
        .map_err(|e| BadRequest::new(field.name(), e.to_string()))?;
    message
        .try_set_field(&field, prost_reflect::Value::Message(body))
        .map_err(|e| BadRequest::new(field.name(), e.to_string()))?;
    Ok(message)
}

/// The request message from `root` (what the body gave), the path
/// variables and (unless the body is the whole message) the query.
fn message(
    route: &Route,
    mut root: Map<String, Value>,
    variables: &[(String, String)],
    query: Option<&str>,
) -> Result<DynamicMessage, BadRequest> {
    let input = route.rpc.input();
    for (path, raw) in variables {
        let value = percent::decode_path(raw)
            .map_err(|_| BadRequest::new(path, "malformed percent-encoding"))?;
        set(&mut root, &input, path, &value, false)?;
    }
    if route.body != "*" {
        let pairs = percent::decode_query(query.unwrap_or_default())
            .map_err(|bad| BadRequest::new(bad.0, "malformed percent-encoding"))?;
        given_once(&pairs)?;
        for (key, value) in pairs {
            set(&mut root, &input, &key, &value, true)?;
        }
    }
    let value = Value::Object(root);
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    DynamicMessage::deserialize(input, de).map_err(|e| {
        let path = track.path().to_string();
        let field = if path == "." || path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        BadRequest::new(field, e.to_string())
    })
}

fn parse_body(body: &[u8]) -> Result<Value, BadRequest> {
    // No body is an empty message; a body of blanks is no JSON text.
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| BadRequest::new("body", format!("malformed JSON: {e}")))?;
    match first_null(&value, "") {
        Some(path) => Err(BadRequest::new(
            if path.is_empty() {
                "body".to_owned()
            } else {
                path
            },
            "null is not a value here: leave the field out",
        )),
        None => Ok(value),
    }
}

/// The path of the first `null` in `value` (`""` for `value` itself), if
/// any. The document types no field as nullable (no contract has a
/// `google.protobuf.Value`), so a `null` is refused rather than read as
/// "unset" the way the proto3 JSON mapping would: the document and the
/// gateway agree.
fn first_null(value: &Value, at: &str) -> Option<String> {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::Null => Some(at.to_owned()),
        Value::Object(map) => map.iter().find_map(|(k, v)| first_null(v, &join(k))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| first_null(v, &format!("{at}[{i}]"))),
        _ => None,
    }
}

/// Sets the field at dotted `path` (proto or JSON names) to `raw`, typed by
/// the descriptor; `append` adds to repeated fields.
fn set(
    root: &mut Map<String, Value>,
    message: &MessageDescriptor,
    path: &str,
    raw: &str,
    append: bool,
) -> Result<(), BadRequest> {
    let names: Vec<&str> = path.split('.').collect();
    let mut desc = message.clone();
    let mut map = root;
    for (i, name) in names.iter().enumerate() {
        let field = find_field(&desc, name).ok_or_else(|| {
            BadRequest::new(path, format!("{} has no field `{name}`", desc.name()))
        })?;
        let last = i + 1 == names.len();
        if last {
            let value = scalar(&field, raw).map_err(|e| BadRequest::new(path, e))?;
            let key = field.name().to_owned();
            if field.is_list() {
                let entry = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
                match entry {
                    Value::Array(items) if append || items.is_empty() => items.push(value),
                    _ => return Err(BadRequest::new(path, "is given twice")),
                }
            } else {
                map.insert(key, value);
            }
            return Ok(());
        }
        let Kind::Message(child) = field.kind() else {
            return Err(BadRequest::new(path, format!("`{name}` is not a message")));
        };
        if field.is_list() || field.is_map() {
            return Err(BadRequest::new(
                path,
                format!("`{name}` cannot be set by path"),
            ));
        }
        let entry = map
            .entry(field.name().to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(next) = entry else {
            return Err(BadRequest::new(path, format!("`{name}` is not an object")));
        };
        map = next;
        desc = child;
    }
    Ok(())
}

/// Refuses a query that gives a field both whole and by its parts
/// (`startDate=2026-01-31&startDate.day=1`): neither could win without
/// dropping what the client said.
fn given_once(pairs: &[(String, String)]) -> Result<(), BadRequest> {
    let keys: HashSet<&str> = pairs.iter().map(|(key, _)| key.as_str()).collect();
    for (key, _) in pairs {
        let mut parent = key.as_str();
        while let Some((head, _)) = parent.rsplit_once('.') {
            if keys.contains(head) {
                return Err(BadRequest::new(
                    head,
                    format!("is given both whole and by its parts (`{key}`)"),
                ));
            }
            parent = head;
        }
    }
    Ok(())
}

fn find_field(desc: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    desc.get_field_by_name(name)
        .or_else(|| desc.get_field_by_json_name(name))
}

/// A path or query value as the JSON the field's kind expects.
fn scalar(field: &FieldDescriptor, raw: &str) -> Result<Value, String> {
    Ok(match field.kind() {
        Kind::Bool => match raw {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(format!("`{raw}` is not true or false")),
        },
        Kind::Message(m) if m.full_name() == DATE => iso_date(raw)?,
        Kind::Message(m) if !is_string_wkt(m.full_name()) => {
            return Err(format!(
                "is a {} message; set its fields (`{}.<field>`) instead",
                m.name(),
                field.name()
            ));
        }
        // Numbers, enums (by name), strings, bytes (base64) and
        // string-mapped well-known types all read from a JSON string.
        _ => Value::String(raw.to_owned()),
    })
}

/// `google.type.Date`.
const DATE: &str = "google.type.Date";

/// A `google.type.Date` given whole in a path or query: `YYYY-MM-DD` (RFC
/// 3339's full-date), a day of the calendar from 0001-01-01 to 9999-12-31,
/// as the JSON object the proto3 mapping reads.
fn iso_date(raw: &str) -> Result<Value, String> {
    let bytes = raw.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes[range.clone()]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| {
                bytes[range]
                    .iter()
                    .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
            })
    };
    let parts = (bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-')
        .then(|| Some((digits(0..4)?, digits(5..7)?, digits(8..10)?)))
        .flatten();
    let Some((year, month, day)) = parts else {
        return Err(format!("`{raw}` is not a date (YYYY-MM-DD)"));
    };
    let year = i32::try_from(year).map_err(|_| format!("`{raw}` is not a date (YYYY-MM-DD)"))?;
    if year == 0 || chrono::NaiveDate::from_ymd_opt(year, month, day).is_none() {
        return Err(format!(
            "`{raw}` is not a day of the calendar (0001-01-01 to 9999-12-31)"
        ));
    }
    Ok(serde_json::json!({ "year": year, "month": month, "day": day }))
}

fn is_string_wkt(name: &str) -> bool {
    matches!(
        name,
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.StringValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BytesValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.DoubleValue"
    )
}

#[cfg(test)]
mod tests {
    use prost_reflect::{DescriptorPool, ReflectMessage as _};

    use super::*;
    use crate::routes;

    /// `GET /v1/transactions` given `query`: its start date as JSON, or
    /// the refusal.
    fn start_date(query: &str) -> Result<Value, BadRequest> {
        let pool = DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET).expect("pool");
        let routes = routes::from_descriptors(&pool).expect("routes");
        let list = routes
            .iter()
            .find(|r| r.method == http::Method::GET && r.template.text == "/v1/transactions")
            .expect("route");
        let message = request(list, &[], Some(query), b"")?;
        let json = serde_json::to_value(&message).expect("JSON");
        assert_eq!(message.descriptor().name(), "ListTransactionsRequest");
        Ok(json["startDate"].clone())
    }

    #[test]
    fn a_date_in_the_query_is_read_whole_or_by_its_parts() {
        let date = serde_json::json!({ "year": 2024, "month": 2, "day": 29 });
        assert_eq!(start_date("startDate=2024-02-29"), Ok(date.clone()));
        assert_eq!(start_date("start_date=2024-02-29"), Ok(date.clone()));
        assert_eq!(
            start_date("startDate.year=2024&startDate.month=2&startDate.day=29"),
            Ok(date)
        );
        assert_eq!(
            start_date("startDate=0001-01-01"),
            Ok(serde_json::json!({ "year": 1, "month": 1, "day": 1 }))
        );
    }

    #[test]
    fn a_date_that_is_not_a_calendar_day_is_refused_by_name() {
        for bad in [
            "2023-02-29",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "0000-01-01",
            "2024-1-01",
            "24-01-01",
            "2024/01/01",
            "2024-01-01T00:00:00Z",
            "+2024-01-01",
            "２０２４-01-01",
            "",
        ] {
            let refused = start_date(&format!("startDate={bad}")).expect_err(bad);
            assert_eq!(refused.field, "startDate", "{bad}");
            assert!(
                refused.description.contains("YYYY-MM-DD")
                    || refused.description.contains("calendar"),
                "{bad}: {}",
                refused.description
            );
        }
    }

    #[test]
    fn a_date_given_both_whole_and_by_its_parts_is_refused() {
        let refused = start_date("startDate=2024-01-31&startDate.day=1").expect_err("both");
        assert_eq!(refused.field, "startDate");
        assert!(
            refused.description.contains("both"),
            "{}",
            refused.description
        );
        let refused = start_date("startDate.day=1&startDate=2024-01-31").expect_err("both");
        assert_eq!(refused.field, "startDate");
    }
}
