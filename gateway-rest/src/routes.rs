//! REST routes derived at run time from the `google.api.http` annotations
//! in the compiled descriptor set: one route per binding (additional
//! bindings included), with its path template parsed.

use prost::Message as _;
use prost_reflect::{DescriptorPool, MethodDescriptor};

use freedumb_proto::google::api::{HttpRule, http_rule::Pattern};

use crate::percent;

/// The response type of RPCs that answer a file (`google.api.HttpBody`):
/// REST gets the raw bytes, not JSON.
pub const HTTP_BODY: &str = "google.api.HttpBody";

/// One piece of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Must equal this text.
    Literal(String),
    /// `*`: any one segment.
    Any,
    /// `**`: the rest of the path.
    Rest,
}

/// A variable of a template: the field it fills and the segments it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Dotted field path in the request message (`account.id`).
    pub field: String,
    /// Index of its first segment.
    pub start: usize,
    /// Segments it covers (`None` for `**`: to the end).
    pub len: Option<usize>,
}

/// A parsed path template such as `/v1/accounts/{account_id}:archive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Segments after the leading `/`.
    pub segments: Vec<Segment>,
    /// The variables, in order.
    pub variables: Vec<Variable>,
    /// The custom verb after the last `:`.
    pub verb: Option<String>,
    /// The template as written.
    pub text: String,
}

impl Template {
    /// Parses a template of the `google.api.http` grammar.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| format!("`{text}` does not start with /"))?;
        // The verb is after a `:` outside any `{...}`.
        let mut depth = 0;
        let mut split = None;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ':' if depth == 0 => split = Some(i),
                _ => {}
            }
        }
        let (path, verb) = match split {
            Some(i) => (&rest[..i], Some(rest[i + 1..].to_owned())),
            None => (rest, None),
        };
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            if let Some(inner) = part.strip_prefix('{') {
                // A variable may span several `/`-separated parts.
                let mut body = inner.to_owned();
                while !body.ends_with('}') {
                    let next = parts
                        .next()
                        .ok_or_else(|| format!("unclosed variable in `{text}`"))?;
                    body.push('/');
                    body.push_str(next);
                }
                body.pop();
                let (field, pattern) = match body.split_once('=') {
                    Some((f, p)) => (f.to_owned(), p.to_owned()),
                    None => (body.clone(), "*".to_owned()),
                };
                let start = segments.len();
                let mut len = Some(0);
                for p in pattern.split('/') {
                    segments.push(match p {
                        "*" => Segment::Any,
                        "**" => {
                            len = None;
                            Segment::Rest
                        }
                        lit => Segment::Literal(lit.to_owned()),
                    });
                    len = len.map(|n| n + 1);
                }
                variables.push(Variable { field, start, len });
            } else {
                segments.push(match part {
                    "*" => Segment::Any,
                    "**" => Segment::Rest,
                    "" => return Err(format!("empty segment in `{text}`")),
                    lit => Segment::Literal(lit.to_owned()),
                });
            }
        }
        Ok(Self {
            segments,
            variables,
            verb,
            text: text.to_owned(),
        })
    }

    /// The decoded values of the variables when `path` matches (`None` also
    /// when a value's percent-encoding is malformed).
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        self.captures(path)?
            .into_iter()
            .map(|(field, raw)| Some((field, percent::decode_path(&raw).ok()?)))
            .collect()
    }

    /// The values of the variables when `path` matches, still
    /// percent-encoded (decoding them may fail: see [`percent::decode_path`]).
    pub fn captures(&self, path: &str) -> Option<Vec<(String, String)>> {
        let rest = path.strip_prefix('/')?;
        let path = match (&self.verb, rest.rsplit_once(':')) {
            (Some(want), Some((p, v))) if !v.contains('/') => {
                if v != want {
                    return None;
                }
                p
            }
            (Some(_), _) => return None,
            (None, _) => rest,
        };
        let parts: Vec<&str> = path.split('/').collect();
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Rest => {
                    i = parts.len();
                    break;
                }
                Segment::Any => {
                    if parts.get(i).is_none_or(|p| p.is_empty()) {
                        return None;
                    }
                }
                Segment::Literal(lit) => {
                    if parts.get(i) != Some(&lit.as_str()) {
                        return None;
                    }
                }
            }
            i += 1;
        }
        if i != parts.len() {
            return None;
        }
        self.variables
            .iter()
            .map(|v| {
                let end = v.len.map_or(parts.len(), |n| v.start + n);
                Some((v.field.clone(), parts.get(v.start..end)?.join("/")))
            })
            .collect()
    }
}

/// One REST binding of an RPC.
#[derive(Debug, Clone)]
pub struct Route {
    /// GET, POST, ...
    pub method: http::Method,
    /// The path template.
    pub template: Template,
    /// `*`, a field name, or empty (no body).
    pub body: String,
    /// The RPC.
    pub rpc: MethodDescriptor,
}

/// Orders `routes` so that templates with a custom verb are tried first:
/// `/v1/things/{id}` must not take `/v1/things/7:watch` (its id would be
/// `7:watch`). The order is otherwise kept.
pub fn verbs_first(routes: &mut [Route]) {
    routes.sort_by_key(|route| route.template.verb.is_none());
}

impl Route {
    /// The request field that takes the raw body (`body: "file"` naming a
    /// `google.api.HttpBody`): an upload, whose body is the file itself.
    pub fn upload_field(&self) -> Option<prost_reflect::FieldDescriptor> {
        if self.body.is_empty() || self.body == "*" {
            return None;
        }
        let field = self.rpc.input().get_field_by_name(&self.body)?;
        match field.kind() {
            prost_reflect::Kind::Message(m) if m.full_name() == HTTP_BODY => Some(field),
            _ => None,
        }
    }

    /// Whether a call must send a body: always for a body field or an
    /// upload, and for `*` when the request has a `REQUIRED` field that the
    /// path does not fill. The document says the same, and the gateway
    /// refuses an empty body where it does.
    pub fn body_required(&self) -> bool {
        match self.body.as_str() {
            "" => false,
            "*" => self.rpc.input().fields().any(|field| {
                matches!(field_behavior(&field), Behavior::Required)
                    && !self
                        .template
                        .variables
                        .iter()
                        .any(|v| v.field.split('.').next() == Some(field.name()))
            }),
            _ => true,
        }
    }

    /// Whether the RPC is callable without an access token.
    pub fn is_public(&self) -> bool {
        freedumb_proto::PUBLIC_METHODS.contains(&self.grpc_path().as_str())
    }

    /// `/package.Service/Method`.
    pub fn grpc_path(&self) -> String {
        format!(
            "/{}/{}",
            self.rpc.parent_service().full_name(),
            self.rpc.name()
        )
    }
}

/// Every annotated binding of every service in `pool`.
pub fn from_descriptors(pool: &DescriptorPool) -> Result<Vec<Route>, String> {
    let extension = pool
        .get_extension_by_name("google.api.http")
        .ok_or("the descriptor set lacks google.api.http")?;
    let mut routes = Vec::new();
    for service in pool.services() {
        for rpc in service.methods() {
            if rpc.is_client_streaming() {
                continue;
            }
            let options = rpc.options();
            if !options.has_extension(&extension) {
                continue;
            }
            let value = options.get_extension(&extension);
            let Some(message) = value.as_message() else {
                continue;
            };
            let rule = HttpRule::decode(message.encode_to_vec().as_slice())
                .map_err(|e| format!("{}: bad google.api.http: {e}", rpc.full_name()))?;
            let mut rules = vec![rule.clone()];
            rules.extend(rule.additional_bindings);
            for rule in rules {
                let (method, path) = match rule.pattern {
                    Some(Pattern::Get(p)) => (http::Method::GET, p),
                    Some(Pattern::Post(p)) => (http::Method::POST, p),
                    Some(Pattern::Put(p)) => (http::Method::PUT, p),
                    Some(Pattern::Delete(p)) => (http::Method::DELETE, p),
                    Some(Pattern::Patch(p)) => (http::Method::PATCH, p),
                    Some(Pattern::Custom(c)) => (
                        http::Method::from_bytes(c.kind.as_bytes())
                            .map_err(|e| format!("{}: {e}", rpc.full_name()))?,
                        c.path,
                    ),
                    None => continue,
                };
                let template =
                    Template::parse(&path).map_err(|e| format!("{}: {e}", rpc.full_name()))?;
                routes.push(Route {
                    method,
                    template,
                    body: rule.body,
                    rpc: rpc.clone(),
                });
            }
        }
    }
    Ok(routes)
}

/// What `google.api.field_behavior` says of a field.
pub(crate) enum Behavior {
    OutputOnly,
    Required,
    Other,
}

/// `google.api.field_behavior` of a field (REQUIRED = 2, OUTPUT_ONLY = 3).
pub(crate) fn field_behavior(field: &prost_reflect::FieldDescriptor) -> Behavior {
    let numbers = field_behaviors(field);
    if numbers.contains(&3) {
        Behavior::OutputOnly
    } else if numbers.contains(&2) {
        Behavior::Required
    } else {
        Behavior::Other
    }
}

/// Whether an update's mask may name `field`: neither OUTPUT_ONLY (3) nor
/// IMMUTABLE (5).
pub(crate) fn is_updatable(field: &prost_reflect::FieldDescriptor) -> bool {
    let numbers = field_behaviors(field);
    !numbers.contains(&3) && !numbers.contains(&5)
}

/// The numbers of a field's `google.api.field_behavior` values.
fn field_behaviors(field: &prost_reflect::FieldDescriptor) -> Vec<i32> {
    let options = field.options();
    let pool = field.parent_pool();
    let Some(ext) = pool.get_extension_by_name("google.api.field_behavior") else {
        return Vec::new();
    };
    if !options.has_extension(&ext) {
        return Vec::new();
    }
    options
        .get_extension(&ext)
        .as_list()
        .map(|l| l.iter().filter_map(|v| v.as_enum_number()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_variables_and_verbs() {
        let t = Template::parse("/v1/accounts/{account_id}:archive").expect("parse");
        assert_eq!(
            t.matches("/v1/accounts/abc:archive"),
            Some(vec![("account_id".into(), "abc".into())])
        );
        assert_eq!(t.matches("/v1/accounts/abc"), None);
        assert_eq!(t.matches("/v1/accounts/abc:other"), None);
        let nested = Template::parse("/v1/accounts/{account.id}").expect("parse");
        assert_eq!(
            nested.matches("/v1/accounts/a%20b"),
            Some(vec![("account.id".into(), "a b".into())])
        );
        assert_eq!(nested.matches("/v1/accounts"), None);
        assert_eq!(nested.matches("/v1/accounts/%zz"), None);
        assert_eq!(
            nested.captures("/v1/accounts/%zz"),
            Some(vec![("account.id".into(), "%zz".into())])
        );
        assert_eq!(nested.matches("/v1/accounts/x/y"), None);
        let verb_only = Template::parse("/v1/auth:login").expect("parse");
        assert_eq!(verb_only.matches("/v1/auth:login"), Some(vec![]));
        assert_eq!(verb_only.matches("/v1/auth"), None);
        let rest = Template::parse("/v1/{name=files/**}").expect("parse");
        assert_eq!(
            rest.matches("/v1/files/a/b"),
            Some(vec![("name".into(), "files/a/b".into())])
        );
    }

    #[test]
    fn every_contract_route_parses() {
        let pool = DescriptorPool::decode(freedumb_proto::FILE_DESCRIPTOR_SET).expect("pool");
        let routes = from_descriptors(&pool).expect("routes");
        assert!(routes.iter().any(|r| r.template.text == "/v1/auth:login"));
        assert!(
            routes
                .iter()
                .any(|r| r.template.text == "/v1/transactions/{transaction.id}")
        );
        assert!(
            routes.iter().all(|r| r.rpc.name() != "ImportTransactions"),
            "client streaming has no REST binding"
        );
    }
}
