//! The OpenAPI 3 document of the REST routes, generated from the same
//! descriptors the gateway routes by (documentation comments included), so
//! the document and the routes cannot disagree.

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::routes::{Behavior, Route, field_behavior};

mod rules;

/// The document as served and checked in: pretty JSON, a final newline.
pub fn render(pool: &DescriptorPool, routes: &[Route]) -> serde_json::Result<String> {
    let mut text = serde_json::to_string_pretty(&document(pool, routes))?;
    text.push('\n');
    Ok(text)
}

/// The document for `routes`.
pub fn document(pool: &DescriptorPool, routes: &[Route]) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut operation_ids: BTreeMap<String, usize> = BTreeMap::new();
    // Schemas derived from a message: (message, fields left out, form).
    let mut derived: BTreeMap<String, (MessageDescriptor, Vec<String>, Form)> = BTreeMap::new();
    wanted.insert("google.rpc.Status".into());
    for route in routes {
        let input = route.rpc.input();
        let output = route.rpc.output();
        let path_fields: Vec<String> = route
            .template
            .variables
            .iter()
            .map(|v| v.field.clone())
            .collect();
        let mut parameters: Vec<Value> = path_fields
            .iter()
            .map(|field| {
                let mut schema = field_at(&input, field)
                    .map_or_else(|| json!({"type": "string"}), |f| scalar_schema(&f));
                // Every id in a path is a UUID (the services refuse any
                // other text as INVALID_ARGUMENT).
                if (field == "id" || field.ends_with("_id") || field.ends_with(".id"))
                    && schema["type"] == "string"
                {
                    schema["format"] = json!("uuid");
                }
                json!({ "name": parameter_name(field), "in": "path", "required": true, "schema": schema })
            })
            .collect();
        if route.body != "*" {
            for field in input.fields() {
                if path_fields.iter().any(|p| p == field.name()) || field.name() == route.body {
                    continue;
                }
                parameters.extend(query_parameters(&field, ""));
            }
        }
        let comment = comments(
            route.rpc.parent_file().file_descriptor_proto(),
            route.rpc.path(),
        );
        let base = format!("{}_{}", route.rpc.parent_service().name(), route.rpc.name());
        let n = operation_ids.entry(base.clone()).or_default();
        *n += 1;
        let operation_id = if *n == 1 { base } else { format!("{base}{n}") };
        let file = output.full_name() == crate::routes::HTTP_BODY;
        let content = if file {
            // The file's own type (text/csv, application/pdf, …).
            json!({ "*/*": { "schema": { "type": "string", "format": "binary" } } })
        } else {
            let media = if route.rpc.is_server_streaming() {
                "application/x-ndjson"
            } else {
                "application/json"
            };
            json!({ (media): { "schema": reference(output.full_name()) } })
        };
        let mut operation = json!({
            "operationId": operation_id,
            "tags": [route.rpc.parent_service().name()],
            "summary": comment.lines().next().unwrap_or(route.rpc.name()),
            "description": comment,
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": if file { "The file (its type in Content-Type, its name in Content-Disposition)" } else { "OK" },
                    "content": content
                },
                "default": {
                    "description": "An error: the google.rpc.Status as JSON",
                    "content": { "application/json": { "schema": reference("google.rpc.Status") } }
                }
            }
        });
        if route.is_public() {
            operation["security"] = json!([]);
        }
        if !file {
            wanted.insert(output.full_name().to_owned());
        }
        match route.body.as_str() {
            "" => {}
            "*" => {
                // The fields the path fills are not the body's.
                let bound: Vec<String> = path_fields
                    .iter()
                    .filter(|f| !f.contains('.'))
                    .cloned()
                    .collect();
                let schema = if bound.is_empty() {
                    wanted.insert(input.full_name().to_owned());
                    reference(input.full_name())
                } else {
                    let name = format!("{}.Body", input.full_name());
                    derived.insert(name.clone(), (input.clone(), bound, Form::Full));
                    reference(&name)
                };
                operation["requestBody"] = json!({
                    "required": route.body_required(),
                    "content": { "application/json": { "schema": schema } }
                });
            }
            _ if route.upload_field().is_some() => {
                operation["requestBody"] = json!({
                    "required": true,
                    "description": "The file itself (its type in Content-Type), or a multipart/form-data form with the file as its only part (the options go in the query)",
                    "content": {
                        "application/octet-stream": { "schema": { "type": "string", "format": "binary" } },
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": { "file": { "type": "string", "format": "binary" } },
                                "additionalProperties": false
                            }
                        }
                    }
                });
            }
            field => {
                if let Some(f) = input.get_field_by_name(field) {
                    // An update names its fields in the mask: none of the
                    // resource's required fields is required in its body.
                    // A create's body (`body: "category"`) is the resource
                    // as it is, required fields and all.
                    let is_update = input.get_field_by_name("update_mask").is_some();
                    let schema = match f.kind() {
                        Kind::Message(m)
                            if is_update
                                && !f.is_list()
                                && !m.full_name().starts_with("google.") =>
                        {
                            let name = format!("{}.Update", m.full_name());
                            state_update_mask(&mut operation, &m);
                            derived.insert(name.clone(), (m, Vec::new(), Form::Update));
                            reference(&name)
                        }
                        _ => field_schema(&f, &mut wanted, is_update),
                    };
                    operation["requestBody"] = json!({
                        "required": true,
                        "content": { "application/json": { "schema": schema } }
                    });
                }
            }
        }
        if route.rpc.input().fields().len() > 0 {
            wanted.insert(input.full_name().to_owned());
        }
        let path = openapi_path(route);
        paths
            .entry(path)
            .or_default()
            .insert(route.method.as_str().to_lowercase(), operation);
    }
    let mut schemas = Map::new();
    for (name, (message, omit, form)) in &derived {
        let mut schema = message_schema(message, &mut wanted, *form);
        if let Some(properties) = schema["properties"].as_object_mut() {
            for field in omit {
                if let Some(f) = message.get_field_by_name(field) {
                    properties.remove(f.json_name());
                }
            }
        }
        let omitted: Vec<String> = omit
            .iter()
            .filter_map(|f| message.get_field_by_name(f))
            .map(|f| f.json_name().to_owned())
            .collect();
        if let Some(object) = schema.as_object_mut()
            && let Some(Value::Array(required)) = object.get_mut("required")
        {
            required.retain(|r| !omitted.iter().any(|o| r == o));
            if required.is_empty() {
                object.remove("required");
            }
        }
        schemas.insert(name.clone(), schema);
    }
    schemas.insert(CURRENCY_CODE.to_owned(), currency_code_schema());
    let mut done = BTreeSet::new();
    while let Some(name) = wanted.iter().find(|n| !done.contains(*n)).cloned() {
        done.insert(name.clone());
        let (base, partial) = match name.strip_suffix(PARTIAL) {
            Some(base) => (base, true),
            None => (name.as_str(), false),
        };
        if base == DATE && !partial {
            schemas.insert(name.clone(), date_schema());
        } else if let Some(rule) = [rules::MoneyRule::Positive, rules::MoneyRule::Signed]
            .into_iter()
            .find(|rule| name == format!("{MONEY}{}", rule.suffix()))
        {
            let Some(money) = pool.get_message_by_name(MONEY) else {
                continue;
            };
            let mut schema = message_schema(&money, &mut BTreeSet::new(), Form::Full);
            schema["properties"]["amountMinor"] = rule.amount_minor();
            if rule == rules::MoneyRule::Positive {
                schema["required"] = json!(["currencyCode", "amountMinor"]);
            }
            schema["description"] = json!(rule.description());
            schemas.insert(name.clone(), schema);
        } else if let Some(message) = pool.get_message_by_name(base) {
            let mut more = BTreeSet::new();
            schemas.insert(
                name.clone(),
                message_schema(
                    &message,
                    &mut more,
                    if partial { Form::Partial } else { Form::Full },
                ),
            );
            wanted.extend(more);
        }
    }
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "FREEDUMB API",
            "version": "v1",
            "description": "REST+JSON transcoding of the FREEDUMB gRPC contracts (canonical proto3 JSON mapping). Authenticated routes take `Authorization: Bearer <access token>`."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } }
        },
        "security": [{ "bearer": [] }]
    });
    crate::openapi_links::add_links_to_document(&mut document);
    document
}

/// An update's `updateMask` parameter: required, and the paths it may name
/// (the resource's fields that are neither output only nor immutable), in
/// the FieldMask's JSON form (camelCase, comma-separated).
fn state_update_mask(operation: &mut Value, resource: &MessageDescriptor) {
    let paths: Vec<String> = resource
        .fields()
        .filter(crate::routes::is_updatable)
        .map(|f| f.json_name().to_owned())
        .collect();
    let one = format!("({})", paths.join("|"));
    let Some(parameters) = operation["parameters"].as_array_mut() else {
        return;
    };
    for parameter in parameters {
        if parameter["name"] == "updateMask" {
            parameter["required"] = json!(true);
            // No example: a mask alone is no valid request (its body must
            // set what it names).
            parameter["schema"] = json!({
                "type": "string",
                "pattern": format!("^{one}(,{one})*$"),
            });
            parameter["description"] = json!(format!(
                "The fields to change, comma-separated: {}. A field it names and the body leaves out is cleared (refused where the field is required).",
                paths.join(", ")
            ));
        }
    }
}

/// The template with `{field=pattern}` reduced to `{field}`.
fn openapi_path(route: &Route) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in route.template.text.chars() {
        match c {
            '{' => {
                depth += 1;
                out.push(c);
            }
            '}' => {
                depth -= 1;
                out.push(c);
            }
            '=' if depth > 0 => depth = 2,
            _ if depth == 2 => {}
            // `{account.id}` is `{account_id}`: a dot in a parameter name
            // breaks common client generators and fuzzers.
            '.' if depth == 1 => out.push('_'),
            _ => out.push(c),
        }
    }
    out
}

/// The document's name of the path variable filling `field`: the dotted
/// field path with `_` for `.` (`account.id` is `account_id`). The gateway
/// matches path segments by position, so the name is the document's alone.
fn parameter_name(field: &str) -> String {
    field.replace('.', "_")
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn field_at(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut desc = message.clone();
    let mut names = path.split('.').peekable();
    while let Some(name) = names.next() {
        let field = desc.get_field_by_name(name)?;
        if names.peek().is_none() {
            return Some(field);
        }
        let Kind::Message(child) = field.kind() else {
            return None;
        };
        desc = child;
    }
    None
}

/// Query parameters for a field: scalars directly, messages one level deep
/// (the parts of a required message are required).
fn query_parameters(field: &FieldDescriptor, prefix: &str) -> Vec<Value> {
    query_parameters_within(field, prefix, false)
}

fn query_parameters_within(
    field: &FieldDescriptor,
    prefix: &str,
    parent_required: bool,
) -> Vec<Value> {
    let name = format!("{prefix}{}", field.json_name());
    let required = parent_required || matches!(field_behavior(field), Behavior::Required);
    match field.kind() {
        // A date is one parameter, `YYYY-MM-DD`: its three parts as three
        // parameters (which the gateway also reads) could not say that they
        // go together, nor which days a month has.
        Kind::Message(m) if m.full_name() == DATE && !field.is_list() && prefix.is_empty() => {
            vec![json!({
                "name": name,
                "in": "query",
                "required": required,
                "description": format!(
                    "A calendar date, YYYY-MM-DD (0001-01-01 to 9999-12-31). The gateway also reads it by its parts: `{name}.year`, `{name}.month` and `{name}.day`."
                ),
                "schema": { "type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" },
            })]
        }
        Kind::Message(m) if !is_string_wkt(m.full_name()) => {
            if !prefix.is_empty() || field.is_list() || field.is_map() {
                return Vec::new();
            }
            m.fields()
                .flat_map(|f| query_parameters_within(&f, &format!("{name}."), required))
                .collect()
        }
        _ => {
            let mut schema = if field.is_list() {
                let mut list = json!({ "type": "array", "items": scalar_schema(field) });
                rules::list_rules(field, &mut list);
                list
            } else {
                scalar_schema(field)
            };
            if required {
                require(field, &mut schema);
            }
            vec![json!({ "name": name, "in": "query", "required": required, "schema": schema })]
        }
    }
}

/// Required means set: not the empty string, not the `…_UNSPECIFIED` zero
/// value of an enum.
fn require(field: &FieldDescriptor, schema: &mut Value) {
    if field.is_list() {
        return;
    }
    match field.kind() {
        // A reference (a currency code) is set by its own schema.
        Kind::String if schema.get("$ref").is_some() => {}
        Kind::String => schema["minLength"] = json!(1),
        Kind::Enum(_) => {
            // By name (a query parameter) or by name or number (a body).
            let mut forms: Vec<&mut Value> = match schema.get_mut("anyOf") {
                Some(Value::Array(forms)) => forms.iter_mut().collect(),
                _ => vec![schema],
            };
            for form in &mut forms {
                if let Some(Value::Array(values)) = form.get_mut("enum") {
                    values.retain(|v| {
                        v.as_str().is_none_or(|v| !v.ends_with("_UNSPECIFIED"))
                            && v.as_i64() != Some(0)
                    });
                }
            }
        }
        _ => {}
    }
}

/// `google.type.Date`.
const DATE: &str = "google.type.Date";

/// The suffix of a message's partial schema (see [`field_schema`]).
const PARTIAL: &str = ".Partial";

/// `freedumb.common.v1.Money`.
const MONEY: &str = "freedumb.common.v1.Money";

/// The largest integer of 18 digits (what the int64 pattern allows).
const MAX_18_DIGITS: i64 = 999_999_999_999_999_999;

/// The range of a part of a date (`year`, `month`, `day`).
fn date_part_range(part: &str) -> (i32, i32) {
    match part {
        "year" => (1, 9999),
        "month" => (1, 12),
        _ => (1, 31),
    }
}

/// A calendar date, as the services read `google.type.Date`: year 1 to
/// 9999, and a day the month has (29 February in leap years only).
fn date_schema() -> Value {
    let part = |name: &str| {
        let (min, max) = date_part_range(name);
        json!({ "type": "integer", "format": "int32", "minimum": min, "maximum": max })
    };
    // The shape first, the calendar in a second part of an `allOf`: client
    // generators read the shape (an intersection keeps its fields), and
    // validators apply both.
    let shape = json!({
        "type": "object",
        "properties": { "year": part("year"), "month": part("month"), "day": part("day") },
        "required": ["year", "month", "day"],
        "additionalProperties": false,
    });
    let leap_year = json!({ "anyOf": [
        { "multipleOf": 400 },
        { "multipleOf": 4, "not": { "multipleOf": 100 } }
    ] });
    let calendar = json!({ "anyOf": [
        { "properties": { "month": { "enum": [1, 3, 5, 7, 8, 10, 12] } } },
        { "properties": { "month": { "enum": [4, 6, 9, 11] }, "day": { "maximum": 30 } } },
        { "properties": { "month": { "enum": [2] }, "day": { "maximum": 28 } } },
        { "properties": { "month": { "enum": [2] }, "day": { "enum": [29] }, "year": leap_year } }
    ] });
    json!({
        "description": "A calendar date (year 1 to 9999; a day the month has).",
        "allOf": [shape, calendar]
    })
}

/// A UUID, as ids are.
const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// The schema every currency code refers to.
const CURRENCY_CODE: &str = "CurrencyCode";

/// The ISO 4217 codes the services take: currencies with minor units.
fn currency_code_schema() -> Value {
    json!({
        "type": "string",
        "description": "An ISO 4217 code of a currency with minor units, upper case (EUR, USD, JPY; not XAU).",
        "enum": currency_codes(),
    })
}

fn currency_codes() -> Vec<String> {
    let letters = b'A'..=b'Z';
    let mut codes = Vec::new();
    for a in letters.clone() {
        for b in letters.clone() {
            for c in letters.clone() {
                let code = String::from_utf8_lossy(&[a, b, c]).into_owned();
                if freedumb_kit::domain::Currency::parse(&code).is_ok() {
                    codes.push(code);
                }
            }
        }
    }
    codes
}

fn is_string_wkt(name: &str) -> bool {
    matches!(
        name,
        "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask"
    )
}

fn scalar_schema(field: &FieldDescriptor) -> Value {
    match field.kind() {
        Kind::String => {
            let mut schema = json!({ "type": "string" });
            rules::string_rules(field, &mut schema);
            schema
        }
        Kind::Bytes => json!({ "type": "string", "format": "byte" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            let mut schema = json!({ "type": "integer", "format": "int32" });
            rules::integer_rules(field, &mut schema);
            schema
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({ "type": "integer", "format": "int64", "minimum": 0 })
        }
        // Decimal digits as the proto3 JSON mapping writes them; up to 18,
        // which every 64-bit integer of that length fits (the 19- and
        // 20-digit ones the services take are not worth a pattern that
        // would let through the ones that overflow).
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            let mut schema =
                json!({ "type": "string", "format": "int64", "pattern": "^-?[0-9]{1,18}$" });
            rules::int64_rules(field, &mut schema);
            schema
        }
        Kind::Uint64 | Kind::Fixed64 => {
            json!({ "type": "string", "format": "int64", "pattern": "^[0-9]{1,18}$" })
        }
        Kind::Float => json!({ "type": "number", "format": "float" }),
        Kind::Double => json!({ "type": "number", "format": "double" }),
        Kind::Enum(e) => json!({
            "type": "string",
            "enum": e.values().map(|v| v.name().to_owned()).collect::<Vec<_>>(),
        }),
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
            "google.protobuf.Duration" => json!({ "type": "string", "example": "1.5s" }),
            "google.protobuf.FieldMask" => json!({ "type": "string", "example": "name,kind" }),
            _ => json!({ "type": "object" }),
        },
    }
}

/// The schema of a field in a JSON body. `partial`: in a field an update's
/// mask cannot name (the service ignores it), only types are stated, not
/// the rules on values (required fields, id and currency shapes, calendar
/// dates).
fn field_schema(field: &FieldDescriptor, wanted: &mut BTreeSet<String>, partial: bool) -> Value {
    let one = match field.kind() {
        Kind::Message(m) if field.is_map() => {
            let value = m
                .get_field_by_name("value")
                .map_or_else(|| json!({}), |v| field_schema(&v, wanted, partial));
            return json!({ "type": "object", "additionalProperties": value });
        }
        Kind::Message(m) if m.full_name() == "google.protobuf.Any" => json!({
            "type": "object",
            "properties": { "@type": { "type": "string" } },
            "additionalProperties": true,
        }),
        Kind::Message(m) if !m.full_name().starts_with("google.protobuf.") => {
            let name = if partial {
                format!("{}{PARTIAL}", m.full_name())
            } else if let Some(rule) =
                rules::MoneyRule::of(field).filter(|_| m.full_name() == MONEY)
            {
                format!("{MONEY}{}", rule.suffix())
            } else {
                m.full_name().to_owned()
            };
            wanted.insert(name.clone());
            reference(&name)
        }
        // The proto3 JSON mapping reads an enum by its name or its number,
        // and a 64-bit integer from a string or a number.
        Kind::Enum(e) => {
            let values = e
                .values()
                .filter(|v| partial || rules::enum_value_taken(field, v.name()));
            let (names, numbers): (Vec<String>, Vec<i32>) =
                values.map(|v| (v.name().to_owned(), v.number())).unzip();
            json!({ "anyOf": [
                { "type": "string", "enum": names },
                { "type": "integer", "format": "int32", "enum": numbers }
            ] })
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            let as_string = scalar_schema(field);
            let unsigned = matches!(field.kind(), Kind::Uint64 | Kind::Fixed64);
            let max = if rules::is_bounded_amount(field) {
                freedumb_kit::domain::MAX_AMOUNT_MINOR
            } else {
                MAX_18_DIGITS
            };
            json!({ "anyOf": [
                as_string,
                {
                    "type": "integer",
                    "format": "int64",
                    "minimum": if unsigned { 0 } else { -max },
                    "maximum": max
                }
            ] })
        }
        Kind::String if partial => json!({ "type": "string" }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 if partial => {
            json!({ "type": "integer", "format": "int32" })
        }
        _ => scalar_schema(field),
    };
    if field.is_list() {
        let mut list = json!({ "type": "array", "items": one });
        if !partial {
            rules::list_rules(field, &mut list);
        }
        list
    } else {
        one
    }
}

/// How much of a message's rules its schema states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Every rule: a create's body, a response.
    Full,
    /// An update's body: the fields its mask may name with their rules
    /// (present or not: the mask decides), the others (immutable or output
    /// only, which the service ignores) by type alone.
    Update,
    /// A message inside a field an update does not change: types only,
    /// see [`field_schema`].
    Partial,
}

/// A message's schema in `form`.
fn message_schema(message: &MessageDescriptor, wanted: &mut BTreeSet<String>, form: Form) -> Value {
    let file = message.parent_file_descriptor_proto();
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in message.fields() {
        let partial = match form {
            Form::Full => false,
            Form::Update => !crate::routes::is_updatable(&field),
            Form::Partial => true,
        };
        let mut schema = field_schema(&field, wanted, partial);
        let comment = comments(file, field.path());
        if !comment.is_empty() {
            // A $ref cannot carry siblings in OpenAPI 3.0.
            schema = if schema.get("$ref").is_some() {
                json!({ "allOf": [schema], "description": comment })
            } else {
                let mut s = schema;
                s["description"] = Value::String(comment);
                s
            };
        }
        match field_behavior(&field) {
            Behavior::OutputOnly => schema["readOnly"] = Value::Bool(true),
            // A required field an update's mask names must be set too.
            Behavior::Required if !partial => {
                if form == Form::Full {
                    required.push(Value::String(field.json_name().to_owned()));
                }
                require(&field, &mut schema);
            }
            Behavior::Required => {}
            Behavior::Other => {}
        }
        properties.insert(field.json_name().to_owned(), schema);
    }
    // The gateway refuses a field the message does not have (a misspelt
    // name must not be dropped in silence), and so does the document.
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    let comment = comments(file, message.path());
    if !comment.is_empty() {
        schema["description"] = Value::String(comment);
    }
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    // At most one field of a oneof (the gateway refuses two): no pair of
    // them together.
    let pairs: Vec<Value> = message
        .oneofs()
        .filter(|oneof| !oneof.is_synthetic())
        .flat_map(|oneof| {
            let names: Vec<String> = oneof.fields().map(|f| f.json_name().to_owned()).collect();
            let mut pairs = Vec::new();
            for (i, a) in names.iter().enumerate() {
                for b in &names[i + 1..] {
                    pairs.push(json!({ "required": [a, b] }));
                }
            }
            pairs
        })
        .collect();
    if !pairs.is_empty() {
        schema["not"] = json!({ "anyOf": pairs });
    }
    schema
}

/// The leading comment of the element at `path` in `file`.
fn comments(file: &prost_types::FileDescriptorProto, path: &[i32]) -> String {
    file.source_code_info
        .as_ref()
        .and_then(|info| info.location.iter().find(|l| l.path == path))
        .and_then(|l| l.leading_comments.as_deref())
        .map(|c| {
            c.lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}
