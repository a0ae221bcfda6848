//! Property tests (proptest) of the parsers that read what a client sends:
//! path templates and their matching, percent-decoding, the REST-to-proto
//! transcoder, and the whole router without services. The properties: no
//! panic on any input; a request the gateway cannot read is a 4xx (a 400
//! naming the field, 404, 405), never a 5xx; what it can read goes on to the
//! services (here unreachable: 503); valid values round-trip.
//!
//! Each property runs 256 cases (the router one 128) in CI. A longer run:
//! `PROPTEST_CASES=100000 cargo test --workspace fuzz_` (proptest prints the
//! smallest failing input; add it to a unit test when fixing it).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Field paths and values (path variables, query pairs).
type Pairs = Vec<(String, String)>;

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use super::harness::{gateway_without_services, limits_of, send};
use crate::percent;
use crate::routes::{self, Route, Segment, Template};
use crate::transcode::{self, BadRequest, File};

/// Cases per property: `cases`, unless `PROPTEST_CASES` says otherwise.
/// Failures are not written to the source tree: the message has the input.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

/// What the contracts offer to build inputs from.
struct Corpus {
    /// Every REST route, in the gateway's order (custom verbs first).
    routes: Vec<Route>,
    /// Field names (proto and JSON) and dotted field paths of every
    /// request message.
    keys: Vec<String>,
    /// Enum value names of request fields.
    enums: Vec<String>,
    /// Literal path segments and verbs of the templates.
    literals: Vec<String>,
    /// Routes that take a JSON body (not an upload).
    body_routes: Vec<usize>,
}

static CORPUS: LazyLock<Corpus> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let mut routes = routes::from_descriptors(&pool).expect("routes");
    routes::verbs_first(&mut routes);
    let mut keys = BTreeSet::new();
    let mut enums = BTreeSet::new();
    let mut literals = BTreeSet::new();
    for route in &routes {
        collect_fields(&route.rpc.input(), "", 0, &mut keys, &mut enums);
        for segment in &route.template.segments {
            if let Segment::Literal(text) = segment {
                literals.insert(text.clone());
            }
        }
        if let Some(verb) = &route.template.verb {
            literals.insert(verb.clone());
        }
    }
    let body_routes = routes
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.body.is_empty() && r.upload_field().is_none())
        .map(|(i, _)| i)
        .collect();
    Corpus {
        routes,
        keys: keys.into_iter().collect(),
        enums: enums.into_iter().collect(),
        literals: literals.into_iter().collect(),
        body_routes,
    }
});

fn collect_fields(
    desc: &MessageDescriptor,
    prefix: &str,
    depth: usize,
    keys: &mut BTreeSet<String>,
    enums: &mut BTreeSet<String>,
) {
    if depth > 3 {
        return;
    }
    for field in desc.fields() {
        keys.insert(field.name().to_owned());
        keys.insert(field.json_name().to_owned());
        let path = format!("{prefix}{}", field.name());
        keys.insert(path.clone());
        match field.kind() {
            Kind::Message(child) => {
                collect_fields(&child, &format!("{path}."), depth + 1, keys, enums);
            }
            Kind::Enum(e) => enums.extend(e.values().map(|v| v.name().to_owned())),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Input strategies.

/// Values that have broken parsers before: edges of every scalar kind,
/// timestamps, durations, masks, escapes.
const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "true",
    "false",
    "TRUE",
    "null",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-0",
    "0x10",
    "1.5",
    "1.0",
    " 1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "4294967296",
    "2147483648",
    "99999999999999999999999999999999999999",
    "2024-01-31T12:00:00Z",
    "2024-02-30T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "0000-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999999Z",
    "10000-01-01T00:00:00Z",
    "+10000-01-01T00:00:00Z",
    "2024-01-01T00:00:00+25:00",
    "2024-01-01T00:00:60Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01t00:00:00.0000000001z",
    "2024-01-01",
    "2024-13",
    "20240101",
    "1.5s",
    "-1.5s",
    "315576000001s",
    "1.0000000001s",
    "s",
    "displayName,amount.units",
    "a..b",
    "a_B",
    "A",
    ",",
    "AAAA",
    "AAA",
    "!!!",
    "0190b7c4-0000-7000-8000-000000000001",
    "é€😀",
    "\u{0}",
    "%",
    "%zz",
    "%C3",
    "%00",
    "%FF",
    "%2B",
    "+",
    "a+b",
    "&",
    "=",
    ".",
    "..",
    "EUR",
];

/// Characters that mean something to some parser here.
const SPECIAL: &[char] = &[
    '%', '&', '=', '+', '.', ':', '/', '?', '#', '{', '}', '*', ' ', '\0', '"', '\\', 'é', '😀',
    '\u{FEFF}', 'a', 'Z', '0', '9', 'F', '-', '_',
];

/// Percent escapes, well formed or not.
const ESCAPES: &[&str] = &[
    "%",
    "%z",
    "%zz",
    "%4",
    "%g0",
    "%%",
    "%%41",
    "%E2%82",
    "%C0%80",
    "%ED%A0%80",
];

/// Bodies that are almost nothing.
const BLANKS: &[&str] = &[
    " ",
    "\n\t ",
    "{}",
    "[]",
    "null",
    "\"\"",
    "{",
    "{\"a\":}",
    "\u{FEFF}{}",
];

/// Pieces of template grammar.
const TEMPLATE_PIECES: &[&str] = &[
    "/",
    "{",
    "}",
    "=",
    "*",
    "**",
    ":",
    "{a}",
    "{a.b=*}",
    "{x=**}",
    "{y=v1/*}",
    "{z=a/**/b}",
    "v1",
    "",
    "{{",
    "}}",
    "{=}",
    "{:}",
];

/// Odd path segments.
const ODD_SEGMENTS: &[&str] = &["", ":", "%2F", "%zz", ".", "..", "*", "**"];

/// Content types of uploaded files.
const FILE_TYPES: &[&str] = &["", "text/csv", "application/x-ofx", "a\u{0}b"];

fn text() -> BoxedStrategy<String> {
    prop::collection::vec(
        prop_oneof![3 => any::<char>(), 2 => prop::sample::select(SPECIAL)],
        0..12,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>())
    .boxed()
}

fn nonempty_text() -> BoxedStrategy<String> {
    prop::collection::vec(any::<char>(), 1..10)
        .prop_map(|chars| chars.into_iter().collect::<String>())
        .boxed()
}

/// A percent escape, well formed or not.
fn escape() -> BoxedStrategy<String> {
    prop_oneof![
        any::<u8>().prop_map(|b| format!("%{b:02X}")),
        any::<u8>().prop_map(|b| format!("%{b:02x}")),
        prop::sample::select(ESCAPES).prop_map(str::to_owned),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<String> {
    prop::sample::select(VALUES).prop_map(str::to_owned).boxed()
}

/// A raw (still percent-encoded) path or query text.
fn raw() -> BoxedStrategy<String> {
    prop::collection::vec(
        prop_oneof![
            3 => text(),
            2 => text().prop_map(|t| utf8_percent_encode(&t, NON_ALPHANUMERIC).to_string()),
            2 => escape(),
            1 => value(),
        ],
        0..4,
    )
    .prop_map(|parts| parts.concat())
    .boxed()
}

fn query_key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(CORPUS.keys.clone()),
        1 => prop::collection::vec(prop::sample::select(CORPUS.keys.clone()), 1..4)
            .prop_map(|names| names.join(".")),
        1 => prop::sample::select(CORPUS.keys.clone())
            .prop_map(|k| form_urlencoded::byte_serialize(k.as_bytes()).collect::<String>()),
        1 => raw(),
    ]
    .boxed()
}

fn query_value() -> BoxedStrategy<String> {
    let enums = if CORPUS.enums.is_empty() {
        vec!["UNSPECIFIED".to_owned()]
    } else {
        CORPUS.enums.clone()
    };
    prop_oneof![
        3 => value(),
        2 => prop::sample::select(enums),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|n| n.to_string()),
        1 => text().prop_map(|t| form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()),
        1 => raw(),
    ]
    .boxed()
}

/// A query string: pairs (keys repeated, dotted, encoded or not), flags,
/// and noise; `None` for no `?` at all.
fn query() -> BoxedStrategy<Option<String>> {
    prop::option::weighted(
        0.85,
        prop::collection::vec(
            prop_oneof![
                5 => (query_key(), query_value()).prop_map(|(k, v)| format!("{k}={v}")),
                1 => query_key(),
                1 => raw(),
            ],
            0..6,
        )
        .prop_map(|pairs| pairs.join("&")),
    )
    .boxed()
}

fn json_key() -> BoxedStrategy<String> {
    prop_oneof![
        5 => prop::sample::select(CORPUS.keys.clone()),
        1 => Just("@type".to_owned()),
        1 => text(),
    ]
    .boxed()
}

/// Any JSON value, nested a few levels, with the contracts' field names
/// as keys and the edge values as strings.
fn json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        query_value().prop_map(Value::String),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
    .boxed()
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON values serialize")
}

/// A request body: empty, blank, a JSON object, any JSON, JSON with bytes
/// flipped, or bytes.
fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => prop::sample::select(BLANKS).prop_map(|s| s.as_bytes().to_vec()),
        5 => prop::collection::vec((json_key(), json()), 0..6)
            .prop_map(|pairs| json_bytes(&Value::Object(pairs.into_iter().collect()))),
        1 => json().prop_map(|v| json_bytes(&v)),
        1 => (
            prop::collection::vec((json_key(), json()), 1..4),
            prop::collection::vec((any::<usize>(), any::<u8>()), 1..4)
        )
            .prop_map(|(pairs, flips)| {
                let mut bytes = json_bytes(&Value::Object(pairs.into_iter().collect()));
                for (at, byte) in flips {
                    let len = bytes.len();
                    if let Some(b) = bytes.get_mut(at % len.max(1)) {
                        *b = byte;
                    }
                }
                bytes
            }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
    .boxed()
}

fn route_index() -> std::ops::Range<usize> {
    0..CORPUS.routes.len()
}

/// The variables of `route` given `values` (as many or more), still
/// percent-encoded.
fn variables_of(route: &Route, values: &[String]) -> Vec<(String, String)> {
    route
        .template
        .variables
        .iter()
        .zip(values)
        .map(|(v, raw)| (v.field.clone(), raw.clone()))
        .collect()
}

/// What the gateway does with a call to `route` once matched.
fn transcode_call(
    route: &Route,
    variables: &[(String, String)],
    query: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<DynamicMessage, BadRequest> {
    if route.upload_field().is_some() {
        let file = File {
            content_type: content_type.to_owned(),
            data: Bytes::copy_from_slice(body),
        };
        transcode::upload(route, variables, query, file)
    } else {
        transcode::request(route, variables, query, body)
    }
}

// ---------------------------------------------------------------------------
// Templates and percent-decoding.

/// Template-ish text: the grammar's characters, thrown together.
fn template_text() -> BoxedStrategy<String> {
    let piece = prop_oneof![
        3 => prop::sample::select(TEMPLATE_PIECES).prop_map(str::to_owned),
        1 => text(),
    ];
    (any::<bool>(), prop::collection::vec(piece, 0..8))
        .prop_map(|(slash, pieces)| {
            let text = pieces.concat();
            if slash { format!("/{text}") } else { text }
        })
        .boxed()
}

/// Path-ish text: the templates' literals, escapes, empty segments and
/// verbs.
fn path_text() -> BoxedStrategy<String> {
    let segment = prop_oneof![
        3 => prop::sample::select(CORPUS.literals.clone()),
        2 => raw(),
        1 => prop::sample::select(ODD_SEGMENTS).prop_map(str::to_owned),
    ];
    (
        prop::collection::vec(segment, 0..7),
        prop::option::of(prop::sample::select(CORPUS.literals.clone())),
    )
        .prop_map(|(segments, verb)| {
            let mut path = format!("/{}", segments.join("/"));
            if let Some(verb) = verb {
                path.push(':');
                path.push_str(&verb);
            }
            path
        })
        .boxed()
}

/// A path for `template`: its literals, each `*` or `**` one segment from
/// `values` percent-encoded; and the still encoded and the decoded value of
/// each variable.
fn path_for(template: &Template, values: &[String]) -> (String, Pairs, Pairs) {
    let mut encoded = Vec::new();
    let mut decoded = Vec::new();
    for (segment, value) in template.segments.iter().zip(values) {
        match segment {
            Segment::Literal(text) => {
                encoded.push(text.clone());
                decoded.push(text.clone());
            }
            Segment::Any | Segment::Rest => {
                encoded.push(utf8_percent_encode(value, NON_ALPHANUMERIC).to_string());
                decoded.push(value.clone());
            }
        }
    }
    let mut path = format!("/{}", encoded.join("/"));
    if let Some(verb) = &template.verb {
        path.push(':');
        path.push_str(verb);
    }
    let of = |parts: &[String]| -> Vec<(String, String)> {
        template
            .variables
            .iter()
            .map(|v| {
                let end = v.len.map_or(parts.len(), |n| v.start + n);
                (v.field.clone(), parts[v.start..end].join("/"))
            })
            .collect()
    };
    (path, of(&encoded), of(&decoded))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn fuzz_template_parsing_never_panics(text in template_text(), paths in prop::collection::vec(path_text(), 1..4)) {
        if let Ok(template) = Template::parse(&text) {
            for v in &template.variables {
                prop_assert!(v.start <= template.segments.len(), "{text}: {template:?}");
                if let Some(len) = v.len {
                    prop_assert!(v.start + len <= template.segments.len(), "{text}: {template:?}");
                }
            }
            for path in &paths {
                let captures = template.captures(path);
                let matches = template.matches(path);
                if let Some(captures) = &captures {
                    prop_assert_eq!(captures.len(), template.variables.len());
                }
                prop_assert_eq!(
                    matches.is_some(),
                    captures.is_some_and(|c| c.iter().all(|(_, raw)| percent::decode_path(raw).is_ok())),
                    "{} on {}",
                    path,
                    text
                );
            }
        }
    }

    #[test]
    fn fuzz_real_templates_take_any_path(path in path_text()) {
        for route in &CORPUS.routes {
            let captures = route.template.captures(&path);
            let matches = route.template.matches(&path);
            prop_assert_eq!(
                matches.is_some(),
                captures.is_some_and(|c| c.iter().all(|(_, raw)| percent::decode_path(raw).is_ok())),
                "{} on {}", path, route.template.text
            );
        }
    }

    /// A path built from a real template carries its variables back, and
    /// the gateway routes it to that template.
    #[test]
    fn fuzz_real_templates_capture_what_a_path_carries(
        (index, values) in route_index().prop_flat_map(|i| {
            let n = CORPUS.routes[i].template.segments.len();
            (Just(i), prop::collection::vec(nonempty_text(), n))
        })
    ) {
        let route = &CORPUS.routes[index];
        let (path, encoded, decoded) = path_for(&route.template, &values);
        prop_assert_eq!(route.template.captures(&path), Some(encoded), "{}", path);
        prop_assert_eq!(route.template.matches(&path), Some(decoded), "{}", path);
        let found = find_route(&route.method, &path)
            .ok()
            .map(|(r, _)| r.template.text.as_str());
        prop_assert_eq!(found, Some(route.template.text.as_str()), "{} {}", route.method, path);
    }

    #[test]
    fn fuzz_percent_decoding_never_panics(input in raw()) {
        if let Ok(value) = percent::decode_path(&input) {
            prop_assert!(value.len() <= input.len());
        }
        match percent::decode_query(&input) {
            Ok(pairs) => prop_assert!(pairs.len() <= input.split('&').count()),
            Err(bad) => prop_assert!(input.contains('%'), "{input:?}: {bad:?}"),
        }
    }

    #[test]
    fn fuzz_text_without_escapes_decodes_to_itself(value in "[^%]{0,24}") {
        prop_assert_eq!(percent::decode_path(&value), Ok(value.clone()));
    }

    #[test]
    fn fuzz_percent_encoded_values_decode_back(value in any::<String>()) {
        let encoded = utf8_percent_encode(&value, NON_ALPHANUMERIC).to_string();
        prop_assert_eq!(percent::decode_path(&encoded), Ok(value));
    }

    #[test]
    fn fuzz_form_encoded_pairs_decode_back(pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..5)) {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        prop_assert_eq!(percent::decode_query(&query), Ok(pairs));
    }
}

// ---------------------------------------------------------------------------
// The transcoder.

/// Any call to any route: transcoding answers a message or a 400 that
/// says what is wrong, and the message survives the wire.
#[derive(Debug, Clone)]
struct AnyCall {
    route: usize,
    values: Vec<String>,
    query: Option<String>,
    content_type: &'static str,
    body: Vec<u8>,
}

fn any_call() -> BoxedStrategy<AnyCall> {
    route_index()
        .prop_flat_map(|route| {
            let body = if CORPUS.routes[route].body.is_empty() {
                prop_oneof![9 => Just(Vec::new()), 1 => body()].boxed()
            } else {
                body()
            };
            (
                Just(route),
                prop::collection::vec(prop_oneof![3 => "[A-Za-z0-9_.~-]{1,16}", 2 => raw()], 4),
                query(),
                prop::sample::select(FILE_TYPES),
                body,
            )
        })
        .prop_map(|(route, values, query, content_type, body)| AnyCall {
            route,
            values,
            query,
            content_type,
            body,
        })
        .boxed()
}

/// Whether two messages say the same: their bytes, or (map entries come
/// in any order) their canonical JSON. Not `==`: a field set to its default
/// differs from one not set, and NaN from itself.
fn same(a: &DynamicMessage, b: &DynamicMessage) -> bool {
    a.encode_to_vec() == b.encode_to_vec()
        || matches!(
            (serde_json::to_value(a), serde_json::to_value(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

fn survives_the_wire(route: &Route, message: &DynamicMessage) -> Result<(), TestCaseError> {
    let bytes = message.encode_to_vec();
    let decoded = DynamicMessage::decode(route.rpc.input(), bytes.as_slice()).map_err(|e| {
        TestCaseError::fail(format!(
            "{}: the message does not decode: {e}",
            route.template.text
        ))
    })?;
    prop_assert!(
        same(&decoded, message),
        "{}: {message:?} came back as {decoded:?}",
        route.template.text
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn fuzz_transcoding_any_request_is_a_message_or_a_400(call in any_call()) {
        let route = &CORPUS.routes[call.route];
        let variables = variables_of(route, &call.values);
        match transcode_call(route, &variables, call.query.as_deref(), call.content_type, &call.body) {
            Ok(message) => survives_the_wire(route, &message)?,
            Err(bad) => prop_assert!(!bad.description.is_empty(), "{bad:?}"),
        }
    }
}

/// Nesting deeper than serde_json's recursion limit is a 400 on `body`,
/// not a stack overflow.
#[test]
fn fuzz_deeply_nested_bodies_are_refused() {
    let route = CORPUS
        .routes
        .iter()
        .find(|r| r.body == "*" && r.upload_field().is_none())
        .expect("a route with a JSON body");
    let variables: Vec<(String, String)> = route
        .template
        .variables
        .iter()
        .map(|v| (v.field.clone(), "x".to_owned()))
        .collect();
    for body in [
        "[".repeat(100_000),
        "{\"a\":".repeat(100_000),
        format!("{}1{}", "[".repeat(120), "]".repeat(120)),
        "1e999999".to_owned(),
    ] {
        let err =
            transcode::request(route, &variables, None, body.as_bytes()).expect_err("refused");
        assert_eq!(err.field, "body", "{err:?}");
    }
}

// Valid bodies: built from the descriptors, they must be accepted, and the
// message must come back the same through the wire and through JSON.

/// Nesting of generated messages (recursive types stop here).
const MAX_DEPTH: u32 = 3;

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    oneof: Option<String>,
    value: Value,
}

fn timestamp() -> BoxedStrategy<String> {
    (-62_135_596_800_i64..=253_402_300_799, 0_i32..1_000_000_000)
        .prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }.to_string())
        .boxed()
}

fn duration() -> BoxedStrategy<String> {
    (0_i64..=315_576_000_000, 0_i32..1_000_000_000, any::<bool>())
        .prop_map(|(seconds, nanos, negative)| {
            let (seconds, nanos) = if negative {
                (-seconds, -nanos)
            } else {
                (seconds, nanos)
            };
            prost_types::Duration { seconds, nanos }.to_string()
        })
        .boxed()
}

/// lowerCamelCase paths, as the JSON mapping writes a FieldMask.
fn field_mask() -> BoxedStrategy<String> {
    prop::collection::vec("[a-z]{1,5}([A-Z][a-z]{1,4})?(\\.[a-z]{1,5})?", 0..4)
        .prop_map(|paths| paths.join(","))
        .boxed()
}

fn valid_kind(kind: &Kind, depth: u32) -> Option<BoxedStrategy<Value>> {
    Some(match kind {
        // Eighths are exact in binary and decimal, and fit an f32.
        Kind::Double | Kind::Float => (-1_000_000_i32..1_000_000)
            .prop_map(|n| Value::from(f64::from(n) / 8.0))
            .boxed(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => (any::<i32>(), any::<bool>())
            .prop_map(|(n, quoted)| {
                if quoted {
                    Value::String(n.to_string())
                } else {
                    Value::from(n)
                }
            })
            .boxed(),
        Kind::Uint32 | Kind::Fixed32 => (any::<u32>(), any::<bool>())
            .prop_map(|(n, quoted)| {
                if quoted {
                    Value::String(n.to_string())
                } else {
                    Value::from(n)
                }
            })
            .boxed(),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => (any::<i64>(), any::<bool>())
            .prop_map(|(n, quoted)| {
                if quoted || n.unsigned_abs() > 1 << 53 {
                    Value::String(n.to_string())
                } else {
                    Value::from(n)
                }
            })
            .boxed(),
        Kind::Uint64 | Kind::Fixed64 => (any::<u64>(), any::<bool>())
            .prop_map(|(n, quoted)| {
                if quoted || n > 1 << 53 {
                    Value::String(n.to_string())
                } else {
                    Value::from(n)
                }
            })
            .boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::String => text().prop_map(Value::String).boxed(),
        Kind::Bytes => prop::collection::vec(any::<u8>(), 0..16)
            .prop_map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b)))
            .boxed(),
        Kind::Enum(e) => {
            let values: Vec<Value> = e
                .values()
                .flat_map(|v| [Value::String(v.name().to_owned()), Value::from(v.number())])
                .collect();
            if values.is_empty() {
                return None;
            }
            prop::sample::select(values).boxed()
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => timestamp().prop_map(Value::String).boxed(),
            "google.protobuf.Duration" => duration().prop_map(Value::String).boxed(),
            "google.protobuf.FieldMask" => field_mask().prop_map(Value::String).boxed(),
            name if name.starts_with("google.protobuf.") => return None,
            _ if depth >= MAX_DEPTH => return None,
            _ => valid_message(m, depth + 1, &[]),
        },
    })
}

fn valid_field(field: &FieldDescriptor, depth: u32) -> Option<BoxedStrategy<Value>> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return None;
        };
        let key = match entry.map_entry_key_field().kind() {
            Kind::String => text().boxed(),
            Kind::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
            Kind::Uint32 | Kind::Fixed32 | Kind::Uint64 | Kind::Fixed64 => {
                any::<u32>().prop_map(|n| n.to_string()).boxed()
            }
            _ => any::<i32>().prop_map(|n| n.to_string()).boxed(),
        };
        let value = valid_kind(&entry.map_entry_value_field().kind(), depth + 1)?;
        return Some(
            prop::collection::vec((key, value), 0..3)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
                .boxed(),
        );
    }
    let one = valid_kind(&field.kind(), depth)?;
    Some(if field.is_list() {
        prop::collection::vec(one, 0..3)
            .prop_map(Value::Array)
            .boxed()
    } else {
        one
    })
}

/// A JSON object of `desc`: some of its fields (not those `excluded`), by
/// proto or JSON name, at most one of each oneof.
fn valid_message(
    desc: &MessageDescriptor,
    depth: u32,
    excluded: &[String],
) -> BoxedStrategy<Value> {
    let entries: Vec<BoxedStrategy<Option<Entry>>> = desc
        .fields()
        .filter(|f| !excluded.iter().any(|e| e == f.name()))
        .filter_map(|field| {
            let value = valid_field(&field, depth)?;
            let name = field.name().to_owned();
            let json_name = field.json_name().to_owned();
            let oneof = field.containing_oneof().map(|o| o.name().to_owned());
            Some(
                prop::option::weighted(0.5, (any::<bool>(), value))
                    .prop_map(move |entry| {
                        entry.map(|(use_json, value)| Entry {
                            key: if use_json {
                                json_name.clone()
                            } else {
                                name.clone()
                            },
                            oneof: oneof.clone(),
                            value,
                        })
                    })
                    .boxed(),
            )
        })
        .collect();
    entries
        .prop_map(|entries| {
            let mut oneofs = HashSet::new();
            let mut map = Map::new();
            for entry in entries.into_iter().flatten() {
                if let Some(oneof) = entry.oneof
                    && !oneofs.insert(oneof)
                {
                    continue;
                }
                map.insert(entry.key, entry.value);
            }
            Value::Object(map)
        })
        .boxed()
}

/// The field at dotted `path` of `desc`.
fn field_at(desc: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut desc = desc.clone();
    let mut found = None;
    for name in path.split('.') {
        let field = desc.get_field_by_name(name)?;
        if let Kind::Message(child) = field.kind() {
            desc = child;
        }
        found = Some(field);
    }
    found
}

/// A valid, percent-encoded value of the path variable `path`.
fn valid_variable(route: &Route, path: &str) -> BoxedStrategy<String> {
    let kind = field_at(&route.rpc.input(), path).map(|f| f.kind());
    let bytes = matches!(kind, Some(Kind::Bytes));
    match kind {
        Some(Kind::Enum(e)) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            if names.is_empty() {
                Just("0".to_owned()).boxed()
            } else {
                prop::sample::select(names).boxed()
            }
        }
        Some(Kind::Bool) => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        Some(Kind::String | Kind::Bytes) | None => nonempty_text()
            .prop_map(move |t| {
                if bytes {
                    base64::engine::general_purpose::URL_SAFE.encode(t)
                } else {
                    utf8_percent_encode(&t, NON_ALPHANUMERIC).to_string()
                }
            })
            .boxed(),
        Some(_) => any::<u16>().prop_map(|n| n.to_string()).boxed(),
    }
}

/// The body of `route` (a JSON body route) without the fields its path
/// sets (the path would override them).
fn valid_body(route: &Route) -> BoxedStrategy<Value> {
    let input = route.rpc.input();
    let bound: Vec<&str> = route
        .template
        .variables
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    if route.body == "*" {
        let excluded: Vec<String> = bound
            .iter()
            .filter_map(|f| f.split('.').next())
            .map(str::to_owned)
            .collect();
        return valid_message(&input, 0, &excluded);
    }
    let Some(field) = input.get_field_by_name(&route.body) else {
        return Just(Value::Object(Map::new())).boxed();
    };
    let prefix = format!("{}.", route.body);
    let excluded: Vec<String> = bound
        .iter()
        .filter_map(|f| f.strip_prefix(prefix.as_str()))
        .filter_map(|rest| rest.split('.').next())
        .map(str::to_owned)
        .collect();
    match field.kind() {
        Kind::Message(m)
            if !field.is_list()
                && !field.is_map()
                && !m.full_name().starts_with("google.protobuf.") =>
        {
            valid_message(&m, 1, &excluded)
        }
        _ => valid_field(&field, 1).unwrap_or_else(|| Just(Value::Null).boxed()),
    }
}

#[derive(Debug, Clone)]
struct ValidCall {
    route: usize,
    variables: Vec<(String, String)>,
    body: Value,
}

fn valid_call() -> BoxedStrategy<ValidCall> {
    prop::sample::select(CORPUS.body_routes.clone())
        .prop_flat_map(|index| {
            let route = &CORPUS.routes[index];
            let variables: Vec<BoxedStrategy<(String, String)>> = route
                .template
                .variables
                .iter()
                .map(|v| {
                    let field = v.field.clone();
                    valid_variable(route, &v.field)
                        .prop_map(move |value| (field.clone(), value))
                        .boxed()
                })
                .collect();
            (Just(index), variables, valid_body(route))
        })
        .prop_map(|(route, variables, body)| ValidCall {
            route,
            variables,
            body,
        })
        .boxed()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn fuzz_valid_bodies_are_accepted_and_round_trip(call in valid_call()) {
        let route = &CORPUS.routes[call.route];
        let body = json_bytes(&call.body);
        let message = transcode::request(route, &call.variables, None, &body);
        let message = match message {
            Ok(message) => message,
            Err(bad) => {
                return Err(TestCaseError::fail(format!(
                    "{} {}: a valid body is refused: {bad:?}\nbody: {}",
                    route.method,
                    route.template.text,
                    String::from_utf8_lossy(&body)
                )));
            }
        };
        let bytes = message.encode_to_vec();
        let decoded = DynamicMessage::decode(route.rpc.input(), bytes.as_slice())
            .map_err(|e| TestCaseError::fail(format!("does not decode: {e}")))?;
        prop_assert!(same(&decoded, &message), "{message:?} came back as {decoded:?}");
        let json = serde_json::to_value(&message)
            .map_err(|e| TestCaseError::fail(format!("does not serialize: {e}")))?;
        let again = DynamicMessage::deserialize(route.rpc.input(), json.clone())
            .map_err(|e| TestCaseError::fail(format!("{json} does not deserialize: {e}")))?;
        prop_assert!(same(&again, &message), "{json} came back as {again:?}");
    }
}

// ---------------------------------------------------------------------------
// The whole router, without services.

/// Methods the router may see.
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "FOO",
];

/// Content types the router may see.
const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/csv"),
    Some("application/octet-stream"),
    Some("multipart/form-data; boundary=XyZ"),
    Some("application/grpc-web+proto"),
];

/// `Authorization` headers the router may see (any value counts as a
/// token there: the services verify it).
const AUTHORIZATIONS: &[Option<&str>] = &[
    None,
    Some("Bearer a.b.c"),
    Some("Bearer a.b.c"),
    Some("Bearer a.b.c"),
    Some("Basic dXNlcjpwYXNz"),
    Some(""),
];

#[derive(Debug, Clone)]
struct RouterCall {
    method: String,
    path: String,
    query: Option<String>,
    content_type: Option<&'static str>,
    authorization: Option<&'static str>,
    body: Vec<u8>,
}

/// A path of a real route (its method likely), or any path.
fn router_path() -> BoxedStrategy<(Option<String>, String)> {
    prop_oneof![
        3 => route_index()
            .prop_flat_map(|i| {
                let n = CORPUS.routes[i].template.segments.len();
                (
                    Just(i),
                    prop::collection::vec(prop_oneof![4 => "[A-Za-z0-9_.~-]{1,12}", 1 => raw()], n),
                )
            })
            .prop_map(|(i, values)| {
                let route = &CORPUS.routes[i];
                let mut parts = Vec::new();
                for (segment, value) in route.template.segments.iter().zip(values) {
                    parts.push(match segment {
                        Segment::Literal(text) => text.clone(),
                        Segment::Any | Segment::Rest => value,
                    });
                }
                let mut path = format!("/{}", parts.join("/"));
                if let Some(verb) = &route.template.verb {
                    path.push(':');
                    path.push_str(verb);
                }
                (Some(route.method.as_str().to_owned()), path)
            }),
        1 => path_text().prop_map(|path| (None, path)),
    ]
    .boxed()
}

fn router_call() -> BoxedStrategy<RouterCall> {
    (
        router_path(),
        prop::sample::select(METHODS),
        prop::bool::weighted(0.8),
        query(),
        prop::sample::select(CONTENT_TYPES),
        prop::sample::select(AUTHORIZATIONS),
        body(),
    )
        .prop_map(
            |((hint, path), method, use_hint, query, content_type, authorization, body)| {
                RouterCall {
                    method: match hint {
                        Some(hint) if use_hint => hint,
                        _ => method.to_owned(),
                    },
                    path,
                    query,
                    content_type,
                    authorization,
                    body,
                }
            },
        )
        .boxed()
}

/// `text` with what a URI cannot carry percent-encoded (and `extra`); `%`
/// stays, so malformed escapes reach the gateway.
fn uri_safe(text: &str, extra: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let unsafe_char = c.is_ascii_control()
            || matches!(
                c,
                ' ' | '"' | '#' | '<' | '>' | '`' | '{' | '}' | '\\' | '^' | '|'
            )
            || extra.contains(&c);
        if unsafe_char {
            let mut buf = [0_u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The route the gateway picks for `method` on `path` (custom verbs first;
/// once a verb route has the path, no route without a verb takes it), or
/// whether routes with other methods have the path (405) or none (404).
fn find_route(method: &Method, path: &str) -> Result<(&'static Route, Pairs), bool> {
    let mut allowed = false;
    let mut verb_matched = false;
    for route in &CORPUS.routes {
        if verb_matched && route.template.verb.is_none() {
            break;
        }
        if let Some(variables) = route.template.captures(path) {
            verb_matched |= route.template.verb.is_some();
            if route.method == *method {
                return Ok((route, variables));
            }
            allowed = true;
        }
    }
    Err(allowed)
}

/// Upstream unreachable: UNAVAILABLE, or a deadline.
const UPSTREAM: &[StatusCode] = &[StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT];
const BAD_REQUEST: &[StatusCode] = &[StatusCode::BAD_REQUEST];
const UNREADABLE_FORM: &[StatusCode] = &[
    StatusCode::BAD_REQUEST,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::GATEWAY_TIMEOUT,
];

/// What the gateway must answer `call`: worked out from the routes and
/// the transcoder, as `proxy::dispatch` does.
fn expected(method: &Method, uri: &http::Uri, call: &RouterCall) -> &'static [StatusCode] {
    let content_type = call.content_type.unwrap_or_default();
    if *method == Method::OPTIONS {
        // CORS answers every preflight itself.
        return &[StatusCode::OK];
    }
    if content_type.starts_with("application/grpc-web") {
        return UPSTREAM;
    }
    let (route, variables) = match find_route(method, uri.path()) {
        Ok(found) => found,
        Err(true) => return &[StatusCode::METHOD_NOT_ALLOWED],
        Err(false) => return &[StatusCode::NOT_FOUND],
    };
    if call.authorization.is_none() && !route.is_public() {
        return &[StatusCode::UNAUTHORIZED];
    }
    if route.upload_field().is_some() && content_type.starts_with("multipart/") {
        return UNREADABLE_FORM;
    }
    match transcode_call(route, &variables, uri.query(), content_type, &call.body) {
        Ok(_) => UPSTREAM,
        Err(_) => BAD_REQUEST,
    }
}

/// Through the whole router with the services unreachable: every call the
/// gateway cannot read is a 4xx with a `google.rpc.Status` body, every one
/// it can is forwarded (503 here); never a 500, 501 or 502.
#[test]
fn fuzz_the_router_answers_4xx_for_what_it_cannot_read_and_never_500() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let router = runtime
        .block_on(async { Arc::new(gateway_without_services(&limits_of(1_000_000))).router() });
    let config = config(128);
    let cases = config.cases as usize;
    let skipped = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&router_call(), |call| {
        let mut uri = uri_safe(&call.path, &['?']);
        if let Some(query) = &call.query {
            uri.push('?');
            uri.push_str(&uri_safe(query, &[]));
        }
        let (Ok(uri), Ok(method)) = (
            http::Uri::try_from(uri.as_str()),
            Method::from_bytes(call.method.as_bytes()),
        ) else {
            skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        if uri.path() == "/openapi.json" {
            skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let want = expected(&method, &uri, &call);
        let mut request = Request::builder().method(method.clone()).uri(uri.clone());
        if let Some(content_type) = call.content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(authorization) = call.authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Body::from(call.body.clone()))
            .map_err(|e| TestCaseError::fail(format!("request: {e}")))?;
        let (status, _, body) = runtime.block_on(send(&router, request));
        prop_assert!(
            want.contains(&status),
            "{method} {uri}: {status}, expected one of {want:?}: {body}"
        );
        // HEAD answers carry no body.
        if (status.is_client_error() || status.is_server_error()) && method != Method::HEAD {
            prop_assert!(
                body["code"].is_i64() && body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{method} {uri}: {status} without a google.rpc.Status body: {body}"
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let skipped = skipped.into_inner();
    assert!(
        skipped * 4 < cases,
        "{skipped} of {cases} generated calls were not valid URIs: fix the generator"
    );
}
