//! OpenAPI `links` from the operations that create or list things to the
//! operations on those things, derived from the document alone, so that a
//! client generator or a stateful fuzzer (Schemathesis) can follow them:
//! `POST /v1/accounts` answers `{"account": {"id": …}}`, and that `id` is
//! the `{account_id}` of `GET`, `PATCH` and `POST …:archive` on
//! `/v1/accounts/{account_id}`.
//!
//! The sources are the `POST`s (creates) and `GET`s (lists) on a collection
//! (a path whose last segment is a plain name: `/v1/accounts`,
//! `/v1/accounts/{account_id}/imports`, not `/v1/auth:login`). What a create
//! gives the id of is each property of its 200 response whose schema has an
//! `id` (`account`, `operation`), or the response itself when it has one;
//! what a list gives the id of is the first item of each array property
//! whose items have an `id` (`deliveries` → `/deliveries/0/id`). The `id` of
//! the property `fooBar` (of an item of `fooBars`) fills the path parameter
//! `foo_bar_id` of the other operations of the same service (the same tag),
//! wherever they live (`CreateReport`'s `operation` is the `{operation_id}`
//! of `/v1/analytics/operations/{operation_id}`); failing that, when the
//! response gives one id only, it fills the parameter right after the
//! collection (`/v1/recurring` → `/v1/recurring/{rule_id}`). The target's
//! other path parameters that the source also has are passed on from its
//! request (`$request.path.account_id`); the rest are left to the client.

use serde_json::{Map, Value};

/// Adds the links to `document` (an OpenAPI 3.0 document with `paths` and
/// `components.schemas`).
pub fn add_links_to_document(document: &mut Value) {
    let schemas = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        add_links(paths, &schemas);
    }
}

/// Adds `links` to the 200 responses of the create and list operations in
/// `paths` (the document's `paths` object), resolving `$ref`s against
/// `schemas` (the document's `components.schemas`). Links already there are
/// kept; adding twice changes nothing.
pub fn add_links(paths: &mut Map<String, Value>, schemas: &Map<String, Value>) {
    let operations = operations(paths);
    let mut additions: Vec<(String, String, Map<String, Value>)> = Vec::new();
    for source in &operations {
        let list = match source.method.as_str() {
            "post" => false,
            "get" => true,
            _ => continue,
        };
        if !is_collection(&source.path) {
            continue;
        }
        let Some(response) = paths
            .get(&source.path)
            .and_then(|item| item.get(&source.method))
            .and_then(|operation| {
                operation.pointer("/responses/200/content/application~1json/schema")
            })
        else {
            continue;
        };
        let created = created(response, schemas, list);
        if created.is_empty() {
            continue;
        }
        let mut links = Map::new();
        for target in &operations {
            if target.path == source.path && target.method == source.method {
                continue;
            }
            let Some((parameter, thing)) = linked_parameter(source, target, &created) else {
                continue;
            };
            let mut parameters = Map::new();
            for name in &target.parameters {
                if *name == parameter {
                    parameters.insert(
                        name.clone(),
                        Value::String(format!("$response.body#{}", thing.pointer)),
                    );
                } else if source.parameters.contains(name) {
                    parameters.insert(name.clone(), Value::String(format!("$request.path.{name}")));
                }
            }
            let mut link = Map::new();
            let link_name = match &target.operation_id {
                Some(id) => {
                    link.insert("operationId".into(), Value::String(id.clone()));
                    id.clone()
                }
                None => {
                    link.insert(
                        "operationRef".into(),
                        Value::String(format!(
                            "#/paths/{}/{}",
                            escape_pointer(&target.path),
                            target.method
                        )),
                    );
                    format!("{}_{}", target.method, target.path)
                }
            };
            link.insert("parameters".into(), Value::Object(parameters));
            link.insert(
                "description".into(),
                Value::String(format!(
                    "`{parameter}` is the id at {} in this response",
                    thing.pointer
                )),
            );
            links.insert(component_name(&link_name), Value::Object(link));
        }
        if !links.is_empty() {
            additions.push((source.path.clone(), source.method.clone(), links));
        }
    }
    for (path, method, links) in additions {
        let Some(response) = paths
            .get_mut(&path)
            .and_then(|item| item.get_mut(&method))
            .and_then(|operation| operation.pointer_mut("/responses/200"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let existing = response
            .entry("links")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(existing) = existing.as_object_mut() {
            for (name, link) in links {
                existing.entry(name).or_insert(link);
            }
        }
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One operation of the document, as far as links are concerned.
struct Operation {
    path: String,
    method: String,
    operation_id: Option<String>,
    tags: Vec<String>,
    /// The path parameters in the order of the template.
    parameters: Vec<String>,
}

fn operations(paths: &Map<String, Value>) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in METHODS {
            let Some(operation) = item.get(method).and_then(Value::as_object) else {
                continue;
            };
            out.push(Operation {
                path: path.clone(),
                method: method.to_owned(),
                operation_id: operation
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                tags: operation
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|tags| {
                        tags.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                parameters: path_parameters(path),
            });
        }
    }
    out
}

/// The names of the `{…}` variables of a path template, in order.
fn path_parameters(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 1..start + len];
        // `{name=pattern}` is not OpenAPI, but costs nothing to read.
        let name = inner.split('=').next().unwrap_or(inner);
        out.push(name.to_owned());
        rest = &rest[start + len + 1..];
    }
    out
}

/// A path whose last segment is a plain name: a collection.
fn is_collection(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    !last.is_empty() && !last.contains(['{', '}', ':'])
}

/// Something a create or list operation's response carries the id of.
struct Created {
    /// The JSON pointer to its id in the response body (`/account/id`,
    /// `/deliveries/0/id`).
    pointer: String,
    /// The path parameter its id fills by name (`account_id`), when the
    /// response names it.
    parameter: Option<String>,
}

/// What a 200 response with `schema` carries the id of: of a create, each
/// property whose schema has an `id`, or the response itself; of a list
/// (`list`), the first item of each array property whose items have one.
fn created(schema: &Value, schemas: &Map<String, Value>, list: bool) -> Vec<Created> {
    let Some(schema) = resolve(schema, schemas) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return out;
    };
    if !list && properties.contains_key("id") {
        out.push(Created {
            pointer: "/id".into(),
            parameter: None,
        });
        return out;
    }
    for (name, property) in properties {
        let Some(property) = resolve(property, schemas) else {
            continue;
        };
        if list {
            let is_array = property.get("type").and_then(Value::as_str) == Some("array");
            let items = property
                .get("items")
                .and_then(|items| resolve(items, schemas));
            if is_array && items.is_some_and(has_id) {
                out.push(Created {
                    pointer: format!("/{}/0/id", escape_pointer(name)),
                    parameter: Some(format!("{}_id", singular(&snake_case(name)))),
                });
            }
        } else if has_id(property) {
            out.push(Created {
                pointer: format!("/{}/id", escape_pointer(name)),
                parameter: Some(format!("{}_id", snake_case(name))),
            });
        }
    }
    out
}

/// `deliveries` → `delivery`, `accounts` → `account`: the English plurals
/// collections are named with.
fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies") {
        format!("{stem}y")
    } else if name.ends_with("ss") {
        name.to_owned()
    } else if let Some(stem) = name.strip_suffix('s') {
        stem.to_owned()
    } else {
        name.to_owned()
    }
}

fn has_id(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|properties| properties.contains_key("id"))
}

/// `schema` with `$ref`s to `#/components/schemas/…` and single-element
/// `allOf`s (a `$ref` with a description) followed.
fn resolve<'a>(mut schema: &'a Value, schemas: &'a Map<String, Value>) -> Option<&'a Value> {
    for _ in 0..32 {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.strip_prefix("#/components/schemas/")?;
            schema = schemas.get(&unescape_pointer(name))?;
        } else if let Some([one]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            schema = one;
        } else {
            return Some(schema);
        }
    }
    None
}

/// The path parameter of `target` that an id `source` created fills, and
/// what created it.
fn linked_parameter<'a>(
    source: &Operation,
    target: &Operation,
    created: &'a [Created],
) -> Option<(String, &'a Created)> {
    let same_service = source.tags.iter().any(|tag| target.tags.contains(tag))
        || (source.tags.is_empty() && target.tags.is_empty());
    if same_service {
        for thing in created {
            if let Some(parameter) = &thing.parameter
                && target.parameters.contains(parameter)
                && !source.parameters.contains(parameter)
            {
                return Some((parameter.clone(), thing));
            }
        }
    }
    // The collection's own item: `/v1/recurring` → `/v1/recurring/{…}`.
    if let [thing] = created
        && target.path.starts_with(&format!("{}/{{", source.path))
    {
        let parameter = target.parameters.get(source.parameters.len())?;
        return Some((parameter.clone(), thing));
    }
    None
}

/// `budgetPlan` → `budget_plan`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A link's name: OpenAPI restricts it to `[a-zA-Z0-9._-]`.
fn component_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A JSON pointer token (RFC 6901).
fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn unescape_pointer(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn operation(id: &str, tag: &str) -> Value {
        json!({
            "operationId": id,
            "tags": [tag],
            "responses": {
                "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } },
                "default": { "description": "An error" }
            }
        })
    }

    fn returning(mut operation: Value, schema: Value) -> Value {
        operation["responses"]["200"]["content"]["application/json"]["schema"] = schema;
        operation
    }

    fn linked(document: &Value, path: &str, method: &str) -> Value {
        document["paths"][path][method]["responses"]["200"]
            .get("links")
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn ledger() -> Value {
        json!({
            "openapi": "3.0.3",
            "paths": {
                "/v1/accounts": {
                    "get": operation("LedgerService_ListAccounts", "LedgerService"),
                    "post": returning(operation("LedgerService_CreateAccount", "LedgerService"),
                        json!({ "$ref": "#/components/schemas/freedumb.ledger.v1.CreateAccountResponse" })),
                },
                "/v1/accounts/{account_id}": {
                    "get": operation("LedgerService_GetAccount", "LedgerService"),
                    "patch": operation("LedgerService_UpdateAccount", "LedgerService"),
                },
                "/v1/accounts/{account_id}:archive": {
                    "post": returning(operation("LedgerService_ArchiveAccount", "LedgerService"),
                        json!({ "$ref": "#/components/schemas/freedumb.ledger.v1.CreateAccountResponse" })),
                },
                "/v1/accounts/{account_id}/imports": {
                    "post": returning(operation("LedgerService_CreateImport", "LedgerService"),
                        json!({ "$ref": "#/components/schemas/freedumb.ledger.v1.CreateImportResponse" })),
                },
                "/v1/accounts/{account_id}/imports/{import_id}": {
                    "get": operation("LedgerService_GetImport", "LedgerService"),
                },
                "/v1/ledger/operations/{operation_id}": {
                    "get": operation("LedgerService_GetOperation", "LedgerService"),
                },
                "/v1/analytics/operations/{operation_id}": {
                    "get": operation("AnalyticsService_GetOperation", "AnalyticsService"),
                },
                "/v1/transactions/{transaction_id}": {
                    "get": operation("LedgerService_GetTransaction", "LedgerService"),
                },
                "/v1/auth:login": {
                    "post": returning(operation("AuthService_Login", "AuthService"),
                        json!({ "$ref": "#/components/schemas/freedumb.auth.v1.LoginResponse" })),
                },
                "/v1/users/{user_id}": {
                    "get": operation("AuthService_GetUser", "AuthService"),
                },
            },
            "components": { "schemas": {
                "freedumb.ledger.v1.Account": {
                    "type": "object",
                    "properties": { "id": { "type": "string", "readOnly": true }, "name": { "type": "string" } }
                },
                "freedumb.ledger.v1.CreateAccountResponse": {
                    "type": "object",
                    "properties": { "account": { "$ref": "#/components/schemas/freedumb.ledger.v1.Account" } }
                },
                "freedumb.ledger.v1.CreateImportResponse": {
                    "type": "object",
                    "properties": {
                        "import": { "type": "object", "properties": { "id": { "type": "string" } } },
                        "operation": {
                            "allOf": [{ "$ref": "#/components/schemas/freedumb.common.v1.Operation" }],
                            "description": "The import's progress."
                        },
                        "rows": { "type": "integer" }
                    }
                },
                "freedumb.common.v1.Operation": {
                    "type": "object",
                    "properties": { "id": { "type": "string" }, "percent": { "type": "integer" } }
                },
                "freedumb.auth.v1.LoginResponse": {
                    "type": "object",
                    "properties": { "user": { "type": "object", "properties": { "id": { "type": "string" } } } }
                }
            } }
        })
    }

    #[test]
    fn a_created_account_links_to_the_operations_on_it() {
        let mut document = ledger();
        add_links_to_document(&mut document);
        let links = linked(&document, "/v1/accounts", "post");
        let mut names: Vec<&String> = links.as_object().expect("links").keys().collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "LedgerService_ArchiveAccount",
                "LedgerService_CreateImport",
                "LedgerService_GetAccount",
                "LedgerService_GetImport",
                "LedgerService_UpdateAccount",
            ],
            "the operations under /v1/accounts/{{account_id}}, and no other service's"
        );
        for id in names {
            assert_eq!(links[id]["operationId"], id.as_str());
            // `{import_id}` of GetImport is not the account's: left out.
            assert_eq!(
                links[id]["parameters"],
                json!({ "account_id": "$response.body#/account/id" }),
                "{id}"
            );
        }
        // Nothing else gets links: reads, custom verbs, the collection's GET.
        for (path, method) in [
            ("/v1/accounts", "get"),
            ("/v1/accounts/{account_id}", "get"),
            ("/v1/accounts/{account_id}", "patch"),
            ("/v1/accounts/{account_id}:archive", "post"),
        ] {
            assert_eq!(
                linked(&document, path, method),
                Value::Null,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn a_nested_create_passes_its_own_path_parameters_on_and_links_by_name_within_its_service() {
        let mut document = ledger();
        add_links_to_document(&mut document);
        let links = linked(&document, "/v1/accounts/{account_id}/imports", "post");
        assert_eq!(
            links["LedgerService_GetImport"]["parameters"],
            json!({
                "account_id": "$request.path.account_id",
                "import_id": "$response.body#/import/id",
            })
        );
        // `operation` (an `allOf` around a `$ref`) is the ledger's
        // `{operation_id}`, not the analytics service's.
        assert_eq!(
            links["LedgerService_GetOperation"]["parameters"],
            json!({ "operation_id": "$response.body#/operation/id" })
        );
        assert!(
            links.get("AnalyticsService_GetOperation").is_none(),
            "{links}"
        );
        // The account is not what it created: no link to the account.
        assert!(links.get("LedgerService_GetAccount").is_none(), "{links}");
        assert_eq!(links.as_object().map(Map::len), Some(2), "{links}");
    }

    #[test]
    fn a_list_links_its_first_item_to_the_operations_on_it() {
        let mut paths = json!({
            "/v1/webhookEndpoints/{endpoint_id}/deliveries": {
                "get": returning(operation("ListWebhookDeliveries", "NotificationService"),
                    json!({ "type": "object", "properties": {
                        "deliveries": { "type": "array", "items": { "$ref": "#/components/schemas/Delivery" } },
                        "nextPageToken": { "type": "string" }
                    } })),
            },
            "/v1/webhookDeliveries/{delivery_id}:redeliver": {
                "post": operation("RedeliverWebhookDelivery", "NotificationService"),
            },
            "/v1/webhookEndpoints/{endpoint_id}": {
                "delete": operation("DeleteWebhookEndpoint", "NotificationService"),
            },
            "/v1/me": {
                "get": returning(operation("GetMe", "AuthService"),
                    json!({ "type": "object", "properties": { "id": { "type": "string" } } })),
            },
            "/v1/users/{me_id}": { "get": operation("GetUser", "AuthService") },
        });
        let schemas = json!({
            "Delivery": { "type": "object", "properties": { "id": { "type": "string" } } }
        });
        let paths = paths.as_object_mut().expect("object");
        add_links(paths, schemas.as_object().expect("object"));
        let links = &paths["/v1/webhookEndpoints/{endpoint_id}/deliveries"]["get"]["responses"]["200"]
            ["links"];
        assert_eq!(
            links,
            &json!({
                "RedeliverWebhookDelivery": {
                    "operationId": "RedeliverWebhookDelivery",
                    "parameters": { "delivery_id": "$response.body#/deliveries/0/id" },
                    "description": "`delivery_id` is the id at /deliveries/0/id in this response"
                }
            })
        );
        // A read of one thing is no list, even with an `id`.
        assert_eq!(
            paths["/v1/me"]["get"]["responses"]["200"].get("links"),
            None
        );
    }

    #[test]
    fn logins_and_other_custom_verbs_get_no_links() {
        let mut document = ledger();
        add_links_to_document(&mut document);
        assert_eq!(linked(&document, "/v1/auth:login", "post"), Value::Null);
    }

    #[test]
    fn a_single_created_thing_fills_the_parameter_after_its_collection_whatever_its_name() {
        let mut paths = json!({
            "/v1/recurring": {
                "post": returning(operation("LedgerService_CreateRecurringRule", "LedgerService"),
                    json!({ "type": "object", "properties": {
                        "rule": { "type": "object", "properties": { "id": { "type": "string" } } }
                    } })),
            },
            "/v1/recurring/{recurring_id}": {
                "delete": operation("LedgerService_DeleteRecurringRule", "LedgerService"),
            },
            "/v1/recurring/{recurring_id}/months/{month}": {
                "get": operation("LedgerService_GetRuleMonth", "LedgerService"),
            },
        });
        let paths = paths.as_object_mut().expect("object");
        add_links(paths, &Map::new());
        let links = &paths["/v1/recurring"]["post"]["responses"]["200"]["links"];
        assert_eq!(
            links["LedgerService_DeleteRecurringRule"]["parameters"],
            json!({ "recurring_id": "$response.body#/rule/id" })
        );
        // `{month}` is left to the client.
        assert_eq!(
            links["LedgerService_GetRuleMonth"]["parameters"],
            json!({ "recurring_id": "$response.body#/rule/id" })
        );
    }

    #[test]
    fn two_created_things_are_not_guessed_by_position() {
        let mut paths = json!({
            "/v1/goals": {
                "post": returning(operation("CreateGoal", "BudgetService"),
                    json!({ "type": "object", "properties": {
                        "goal": { "type": "object", "properties": { "id": { "type": "string" } } },
                        "progress": { "type": "object", "properties": { "id": { "type": "string" } } }
                    } })),
            },
            "/v1/goals/{target}": { "get": operation("GetGoal", "BudgetService") },
            "/v1/goals/{goal_id}:pause": { "post": operation("PauseGoal", "BudgetService") },
        });
        let paths = paths.as_object_mut().expect("object");
        add_links(paths, &Map::new());
        let links = &paths["/v1/goals"]["post"]["responses"]["200"]["links"];
        assert!(links.get("GetGoal").is_none(), "{links}");
        assert_eq!(
            links["PauseGoal"]["parameters"],
            json!({ "goal_id": "$response.body#/goal/id" })
        );
    }

    #[test]
    fn camel_case_properties_fill_snake_case_parameters_and_a_response_with_an_id_is_the_thing() {
        let mut paths = json!({
            "/v1/plans": {
                "post": returning(operation("CreatePlan", "BudgetService"),
                    json!({ "type": "object", "properties": {
                        "budgetPlan": { "type": "object", "properties": { "id": { "type": "string" } } },
                        "note": { "type": "string" }
                    } })),
            },
            "/v1/plans/{budget_plan_id}": { "get": operation("GetPlan", "BudgetService") },
            "/v1/things": {
                "post": returning(operation("CreateThing", "ThingService"),
                    json!({ "type": "object", "properties": { "id": { "type": "string" } } })),
            },
            "/v1/things/{thing}": { "delete": operation("DeleteThing", "ThingService") },
        });
        let paths = paths.as_object_mut().expect("object");
        add_links(paths, &Map::new());
        assert_eq!(
            paths["/v1/plans"]["post"]["responses"]["200"]["links"]["GetPlan"]["parameters"],
            json!({ "budget_plan_id": "$response.body#/budgetPlan/id" })
        );
        assert_eq!(
            paths["/v1/things"]["post"]["responses"]["200"]["links"]["DeleteThing"]["parameters"],
            json!({ "thing": "$response.body#/id" })
        );
    }

    #[test]
    fn without_an_operation_id_the_link_refers_to_the_operation_by_pointer() {
        let mut get = operation("", "S");
        get.as_object_mut().expect("object").remove("operationId");
        let mut paths = json!({
            "/v1/notes": {
                "post": returning(operation("CreateNote", "S"),
                    json!({ "type": "object", "properties": {
                        "note": { "type": "object", "properties": { "id": { "type": "string" } } }
                    } })),
            },
            "/v1/notes/{note_id}": { "get": get },
        });
        let paths = paths.as_object_mut().expect("object");
        add_links(paths, &Map::new());
        let links = paths["/v1/notes"]["post"]["responses"]["200"]["links"]
            .as_object()
            .expect("links");
        let (name, link) = links.iter().next().expect("a link");
        assert_eq!(name, "get__v1_notes__note_id_");
        assert_eq!(link["operationRef"], "#/paths/~1v1~1notes~1{note_id}/get");
    }

    #[test]
    fn links_already_there_are_kept_and_adding_twice_changes_nothing() {
        let mut document = ledger();
        document["paths"]["/v1/accounts"]["post"]["responses"]["200"]["links"] = json!({
            "LedgerService_GetAccount": { "operationId": "LedgerService_GetAccount", "parameters": { "account_id": "$response.body#/account/id" }, "description": "mine" }
        });
        add_links_to_document(&mut document);
        let once = document.clone();
        add_links_to_document(&mut document);
        assert_eq!(once, document);
        let links = linked(&document, "/v1/accounts", "post");
        assert_eq!(links["LedgerService_GetAccount"]["description"], "mine");
        assert!(
            links.get("LedgerService_UpdateAccount").is_some(),
            "{links}"
        );
    }

    #[test]
    fn path_templates_and_collections_are_read_as_openapi_writes_them() {
        assert_eq!(
            path_parameters("/v1/budgetPlans/{plan_id}/months/{month}:view"),
            vec!["plan_id", "month"]
        );
        assert_eq!(path_parameters("/v1/{name=things/*}"), vec!["name"]);
        assert!(path_parameters("/v1/me").is_empty());
        assert!(is_collection("/v1/accounts"));
        assert!(is_collection("/v1/accounts/{account_id}/imports"));
        assert!(!is_collection("/v1/accounts/{account_id}"));
        assert!(!is_collection("/v1/auth:login"));
        assert!(!is_collection("/v1/accounts/{account_id}:archive"));
        assert_eq!(snake_case("budgetPlan"), "budget_plan");
        assert_eq!(snake_case("account"), "account");
        assert_eq!(singular("deliveries"), "delivery");
        assert_eq!(singular("budget_plans"), "budget_plan");
        assert_eq!(singular("address"), "address");
    }

    /// On the checked-in document: every link names an operation that
    /// exists and fills only path parameters it has, and the account's
    /// links are there.
    #[test]
    fn the_checked_in_document_gets_links_to_operations_that_exist() {
        let mut document: Value =
            serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json");
        add_links_to_document(&mut document);
        let paths = document["paths"].as_object().expect("paths");
        let operations = operations(paths);
        let mut count = 0;
        for source in &operations {
            let Some(links) = paths[&source.path][&source.method]["responses"]["200"]
                .get("links")
                .and_then(Value::as_object)
            else {
                continue;
            };
            for (name, link) in links {
                count += 1;
                let id = link["operationId"].as_str().expect("operationId");
                let target = operations
                    .iter()
                    .find(|o| o.operation_id.as_deref() == Some(id))
                    .unwrap_or_else(|| panic!("{name}: no operation {id}"));
                for parameter in link["parameters"].as_object().expect("parameters").keys() {
                    assert!(
                        target.parameters.contains(parameter),
                        "{} {} → {id}: {parameter}",
                        source.method,
                        source.path
                    );
                }
            }
        }
        assert!(count >= 20, "only {count} links");
        let links = &paths["/v1/accounts"]["post"]["responses"]["200"]["links"];
        for id in ["LedgerService_GetAccount", "LedgerService_UpdateAccount"] {
            assert_eq!(
                links[id]["parameters"]["account_id"], "$response.body#/account/id",
                "{links}"
            );
        }
        let report = &paths["/v1/analytics/reports"]["post"]["responses"]["200"]["links"];
        assert_eq!(
            report["AnalyticsService_DownloadReport"]["parameters"]["operation_id"],
            "$response.body#/operation/id",
            "{report}"
        );
    }
}
