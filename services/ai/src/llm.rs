//! Answers through an OpenAI-compatible chat-completions endpoint, when an
//! operator configures one (`FREEDUMB_AI__LLM_URL`). The model never sees
//! the database: it gets one tool, `figures`, whose arguments pick which of
//! the caller's own figures to compute (the same computations as the
//! offline answers, on the caller's transactions read from the ledger with
//! the caller's own token), and it writes the sentence. Calls have a
//! timeout, are retried with backoff on transport errors, 429 and 5xx, and
//! a circuit breaker stops calling for a while after repeated failures;
//! every failure falls back to the offline answer.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// The most rounds of tool calls per question.
const MAX_ROUNDS: usize = 3;
/// Consecutive failures that open the breaker.
const TRIP_AFTER: u32 = 3;
/// How long an open breaker refuses calls before letting one through.
const OPEN_FOR: Duration = Duration::from_secs(30);
/// The first pause before a retry (doubled each time).
const BACKOFF: Duration = Duration::from_millis(100);

/// What the model is told.
pub const SYSTEM_PROMPT: &str = "You answer questions about the user's own personal finances. \
Use the `figures` tool for every amount: it computes from the user's own transactions. \
Never invent amounts. Answer in one or two sentences, naming the amounts and the period. \
You cannot see or change anything else, and you have no access to other people's data.";

/// How to reach the endpoint.
#[derive(Clone)]
pub struct LlmSettings {
    /// The API base, e.g. `http://127.0.0.1:8080/v1`.
    pub url: String,
    /// The model name sent.
    pub model: String,
    /// The bearer key, when the endpoint needs one.
    pub key: Option<SecretString>,
    /// The budget of one question (all rounds and retries).
    pub timeout: Duration,
    /// Retries of one call.
    pub retries: u32,
}

/// Why the endpoint gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The breaker is open after repeated failures.
    #[error("the language model is off after repeated failures")]
    CircuitOpen,
    /// The time budget ran out.
    #[error("the language model did not answer in time")]
    Timeout,
    /// The endpoint failed or answered something unusable.
    #[error("the language model failed: {0}")]
    Failed(String),
}

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// Its id, echoed with the result.
    pub id: String,
    /// The arguments, parsed.
    pub arguments: Value,
}

/// The chat-completions client, with its breaker.
pub struct LlmClient {
    settings: LlmSettings,
    http: reqwest::Client,
    breaker: Mutex<Breaker>,
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

impl LlmClient {
    /// A client of the configured endpoint.
    pub fn new(settings: LlmSettings) -> anyhow::Result<Self> {
        let tls = freedumb_kit::tls::public_client_config()?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("FREEDUMB-AI/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            settings,
            http,
            breaker: Mutex::new(Breaker::default()),
        })
    }

    /// The whole budget of one question.
    pub fn budget(&self) -> Duration {
        self.settings.timeout
    }

    /// Asks `question`; `run_tool` answers each tool call with the JSON the
    /// model gets back. Returns the model's final text.
    pub async fn answer<F, Fut>(
        &self,
        question: &str,
        today: &str,
        run_tool: F,
    ) -> Result<String, LlmError>
    where
        F: Fn(Value) -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        self.check_breaker()?;
        let deadline = Instant::now() + self.settings.timeout;
        let result = self.converse(question, today, deadline, run_tool).await;
        self.record(result.is_ok());
        result
    }

    async fn converse<F, Fut>(
        &self,
        question: &str,
        today: &str,
        deadline: Instant,
        run_tool: F,
    ) -> Result<String, LlmError>
    where
        F: Fn(Value) -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        let mut messages = vec![
            json!({"role": "system", "content": format!("{SYSTEM_PROMPT} Today is {today}.")}),
            json!({"role": "user", "content": question}),
        ];
        for round in 0..MAX_ROUNDS {
            // The last round may not call tools: it must answer.
            let tools = round + 1 < MAX_ROUNDS;
            let reply = self.complete(&messages, tools, deadline).await?;
            let calls = tool_calls(&reply)?;
            if calls.is_empty() {
                return reply["content"]
                    .as_str()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| s.trim().to_owned())
                    .ok_or_else(|| LlmError::Failed("an empty answer".into()));
            }
            messages.push(reply.clone());
            for call in calls {
                let result = run_tool(call.arguments).await;
                messages.push(json!({
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": result.to_string(),
                }));
            }
        }
        Err(LlmError::Failed("no answer after the tool calls".into()))
    }

    /// One chat completion, retried; returns the assistant message.
    async fn complete(
        &self,
        messages: &[Value],
        tools: bool,
        deadline: Instant,
    ) -> Result<Value, LlmError> {
        let mut body = json!({
            "model": self.settings.model,
            "messages": messages,
            "temperature": 0,
        });
        if tools {
            body["tools"] = json!([figures_tool()]);
        }
        let url = format!(
            "{}/chat/completions",
            self.settings.url.trim_end_matches('/')
        );
        let mut pause = BACKOFF;
        let mut attempt = 0;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(LlmError::Timeout)?;
            let mut request = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .timeout(left);
            if let Some(key) = &self.settings.key {
                request = request.bearer_auth(key.expose_secret());
            }
            let outcome = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let bytes = response
                        .bytes()
                        .await
                        .map_err(|e| LlmError::Failed(format!("an unreadable reply: {e}")))?;
                    let parsed: Value = serde_json::from_slice(&bytes)
                        .map_err(|e| LlmError::Failed(format!("an unreadable reply: {e}")))?;
                    return parsed["choices"][0]["message"]
                        .as_object()
                        .map(|m| Value::Object(m.clone()))
                        .ok_or_else(|| LlmError::Failed("a reply without a message".into()));
                }
                Ok(response) => {
                    let status = response.status();
                    let retry = status.as_u16() == 429 || status.is_server_error();
                    (retry, format!("status {status}"))
                }
                Err(e) if e.is_timeout() => return Err(LlmError::Timeout),
                Err(e) => (true, format!("{e}")),
            };
            let (retry, why) = outcome;
            attempt += 1;
            if !retry || attempt > self.settings.retries {
                return Err(LlmError::Failed(why));
            }
            if Instant::now() + pause >= deadline {
                return Err(LlmError::Timeout);
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }

    fn check_breaker(&self) -> Result<(), LlmError> {
        let mut breaker = self
            .breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match breaker.open_until {
            Some(until) if Instant::now() < until => Err(LlmError::CircuitOpen),
            Some(_) => {
                // Half open: this call decides.
                breaker.open_until = None;
                breaker.failures = TRIP_AFTER - 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn record(&self, ok: bool) {
        let mut breaker = self
            .breaker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ok {
            breaker.failures = 0;
            return;
        }
        breaker.failures += 1;
        if breaker.failures >= TRIP_AFTER {
            breaker.open_until = Some(Instant::now() + OPEN_FOR);
            tracing::warn!(
                for_secs = OPEN_FOR.as_secs(),
                "the language model failed {TRIP_AFTER} times in a row: not calling it for a while"
            );
        }
    }
}

/// The tool calls of an assistant message.
fn tool_calls(message: &Value) -> Result<Vec<ToolCall>, LlmError> {
    let Some(calls) = message["tool_calls"].as_array() else {
        return Ok(Vec::new());
    };
    calls
        .iter()
        .map(|call| {
            let id = call["id"].as_str().unwrap_or_default().to_owned();
            let arguments = match &call["function"]["arguments"] {
                Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
                other => other.clone(),
            };
            if call["function"]["name"] != "figures" {
                return Err(LlmError::Failed(format!(
                    "an unknown tool {}",
                    call["function"]["name"]
                )));
            }
            Ok(ToolCall { id, arguments })
        })
        .collect()
}

/// The one tool, in the chat-completions format.
pub fn figures_tool() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": "figures",
            "description": "Computes figures from the user's own transactions: a total spent or earned \
    (optionally in one of their categories or at a merchant) over a period, the top categories or \
    merchants of spending over a period, spending in one period against another, or their recurring payments.",
            "parameters": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": ["total", "top", "compare", "subscriptions"]},
                    "flow": {"type": "string", "enum": ["out", "in"], "description": "total: spending (out) or income (in)"},
                    "category": {"type": "string", "description": "one of the user's category names"},
                    "merchant": {"type": "string"},
                    "start": {"type": "string", "format": "date"},
                    "end": {"type": "string", "format": "date"},
                    "second_start": {"type": "string", "format": "date", "description": "compare: the other period"},
                    "second_end": {"type": "string", "format": "date"},
                    "ranked": {"type": "string", "enum": ["categories", "merchants"]},
                    "n": {"type": "integer", "minimum": 1, "maximum": 20}
                },
                "required": ["kind"]
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_are_read_and_unknown_tools_refused() {
        let message = json!({"tool_calls": [{"id": "c1", "function": {"name": "figures", "arguments": "{\"kind\":\"subscriptions\"}"}}]});
        assert_eq!(
            tool_calls(&message).expect("read"),
            [ToolCall {
                id: "c1".into(),
                arguments: json!({"kind": "subscriptions"})
            }]
        );
        assert!(
            tool_calls(&json!({"content": "hi"}))
                .expect("none")
                .is_empty()
        );
        let other =
            json!({"tool_calls": [{"id": "c", "function": {"name": "sql", "arguments": "{}"}}]});
        assert!(tool_calls(&other).is_err());
    }

    #[test]
    fn the_breaker_opens_after_repeated_failures_and_half_opens_later() {
        let client = LlmClient::new(LlmSettings {
            url: "http://127.0.0.1:9".into(),
            model: "m".into(),
            key: None,
            timeout: Duration::from_millis(100),
            retries: 0,
        })
        .expect("client");
        for _ in 0..TRIP_AFTER {
            assert!(client.check_breaker().is_ok());
            client.record(false);
        }
        assert!(matches!(client.check_breaker(), Err(LlmError::CircuitOpen)));
        client.breaker.lock().expect("lock").open_until = Some(Instant::now());
        assert!(client.check_breaker().is_ok(), "half open");
        client.record(false);
        assert!(
            matches!(client.check_breaker(), Err(LlmError::CircuitOpen)),
            "one more failure opens it again"
        );
    }
}
