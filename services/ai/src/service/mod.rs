//! The `freedumb.ai.v1.AiService` implementation. The thin tonic adapter
//! takes the user from the access token, parses the request into its
//! validated form and calls one function returning `Result<_, AiError>`;
//! the error becomes a `Status` in one place (`From<AiError> for Status`).

use std::collections::HashSet;
use std::sync::Arc;

use freedumb_kit::domain::{optional_date, required_id};
use freedumb_kit::peer::{Credentials, LedgerPeer};
use freedumb_kit::{UpdateMask, time};
use freedumb_proto::ai as pb;
use freedumb_proto::ai::ai_service_server::AiService;
use freedumb_proto::ledger as ledger_pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::convert;
use crate::domain::ask;
use crate::domain::insights::{self, Txn};
use crate::domain::{
    CompiledRule, Decision, Input, Known, Merchant, RULE_UPDATABLE, RuleSpec, Seen, Source,
    decide_known, merchant_of, parse_batch, suggest,
};
use crate::error::AiError;
use crate::llm::LlmClient;
use crate::model::{CategoryNames, GlobalModel};
use crate::store::{AiStore, MAX_RULES, RuleRecord};

type Result<T, E = AiError> = std::result::Result<T, E>;

/// What the service needs.
pub struct AiDeps {
    /// Persistence, scoped by the caller.
    pub store: Arc<dyn AiStore>,
    /// The ledger, called as the caller.
    pub ledger: LedgerPeer,
    /// The confidence below which no category is proposed.
    pub min_confidence: f64,
    /// The global model.
    pub model: &'static GlobalModel,
    /// The language model `Ask` tries first, when configured.
    pub llm: Option<Arc<LlmClient>>,
}

/// The ai service.
#[derive(Clone)]
pub struct AiApi {
    deps: Arc<AiDeps>,
}

impl AiApi {
    /// A service over `deps`.
    pub fn new(deps: AiDeps) -> Self {
        Self {
            deps: Arc::new(deps),
        }
    }

    /// The caller's rules, compiled, in the order they run.
    async fn compiled_rules(&self, user_id: Uuid) -> Result<Vec<CompiledRule>> {
        self.deps
            .store
            .list_rules(user_id)
            .await?
            .iter()
            .map(RuleRecord::compile)
            .collect::<Result<Vec<_>, String>>()
            .map_err(|why| AiError::Unexpected(anyhow::anyhow!("a stored rule: {why}")))
    }

    /// The cascade's decisions for `inputs`: the caller's rules compiled
    /// once, their history read in one query, and, when some are still
    /// undecided, their categories read once from the ledger for the
    /// global model (without them, the model is skipped: its answers are
    /// advice). With `explain`, the model names its strongest features.
    async fn decide_all(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        inputs: &[Input],
        explain: bool,
    ) -> Result<Vec<Decision>> {
        let rules = self.compiled_rules(user_id).await?;
        let keys: Vec<String> = inputs
            .iter()
            .filter_map(|i| i.merchant.as_ref().map(|m| m.key.clone()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let history = self.deps.store.history(user_id, &keys).await?;
        let seen = |input: &Input| {
            input
                .merchant
                .as_ref()
                .and_then(|m| history.get(&m.key))
                .map_or(&[][..], Vec::as_slice)
        };
        let min = self.deps.min_confidence;
        let known: Vec<Known> = inputs
            .iter()
            .map(|input| decide_known(input, &rules, seen(input), min))
            .collect();
        // The ledger is asked for the caller's categories only when the
        // model has something to answer.
        let names = if known.iter().any(|k| matches!(k, Known::Undecided(_))) {
            self.category_names(credentials).await
        } else {
            CategoryNames::default()
        };
        let decisions: Vec<Decision> = known
            .into_iter()
            .zip(inputs)
            .map(|(known, input)| {
                known.finish(|| self.deps.model.guess_for(input, &names, explain), min)
            })
            .collect();
        for d in &decisions {
            let outcome = match d.source {
                Source::Rule => "rule",
                Source::History => "history",
                Source::Model => "model",
                Source::None => "none",
            };
            metrics::counter!("ai_categorized_total", "outcome" => outcome).increment(1);
        }
        Ok(decisions)
    }

    /// The caller's categories by name, from the ledger; none (logged) when
    /// the ledger cannot say.
    async fn category_names(&self, credentials: &Credentials) -> CategoryNames {
        match self.deps.ledger.categories(credentials).await {
            Ok(categories) => CategoryNames::new(categories.into_iter().filter_map(|c| {
                Some((
                    Uuid::try_parse(&c.id).ok()?,
                    c.name,
                    c.kind == ledger_pb::CategoryKind::Income as i32,
                ))
            })),
            Err(error) => {
                tracing::warn!(error = ?error, "categorizing without the global model: the ledger's categories are unavailable");
                CategoryNames::default()
            }
        }
    }

    async fn suggestions(&self, user_id: Uuid, max: usize) -> Result<pb::SuggestRulesResponse> {
        let rules = self.compiled_rules(user_id).await?;
        let seen: Vec<Seen> = self
            .deps
            .store
            .merchants(user_id)
            .await?
            .into_iter()
            .map(|m| Seen {
                merchant: Merchant {
                    name: m.name,
                    key: m.key,
                },
                categories: m.categories,
            })
            .collect();
        Ok(pb::SuggestRulesResponse {
            suggestions: suggest(&seen, &rules, max)
                .iter()
                .map(convert::suggestion)
                .collect(),
        })
    }

    async fn insights(
        &self,
        credentials: &Credentials,
        as_of: chrono::NaiveDate,
    ) -> Result<pb::GetInsightsResponse> {
        let start = as_of
            .checked_sub_months(chrono::Months::new(INSIGHT_MONTHS))
            .unwrap_or(as_of);
        let fetched: Vec<Txn> = self
            .deps
            .ledger
            .transactions_since(credentials, Some(start))
            .await?
            .iter()
            .filter_map(insight_txn)
            .collect();
        let accounts = self.deps.ledger.accounts(credentials).await?;
        let (transactions, later): (Vec<Txn>, Vec<Txn>) =
            fetched.into_iter().partition(|t| t.date <= as_of);
        let recurring = insights::recurring(&transactions, as_of);
        let forecasts = accounts
            .iter()
            .filter_map(|a| {
                let balance = a.balance.as_ref()?;
                // The balance on `as_of`: now, less what was booked after.
                let after: i64 = later
                    .iter()
                    .filter(|t| t.account_id == a.id)
                    .map(|t| t.amount_minor)
                    .sum();
                let f = insights::forecast(
                    &a.id,
                    &balance.currency_code,
                    balance.amount_minor - after,
                    &transactions,
                    &recurring,
                    as_of,
                );
                Some(convert::forecast(&f))
            })
            .collect();
        Ok(pb::GetInsightsResponse {
            spending_changes: insights::spending_changes(&transactions, as_of)
                .iter()
                .map(convert::spending_change)
                .collect(),
            balance_forecasts: forecasts,
            recurring_payments: recurring.iter().map(convert::recurring).collect(),
            unusual_transactions: insights::unusual(&transactions, as_of)
                .iter()
                .map(convert::unusual)
                .collect(),
        })
    }

    async fn ask(
        &self,
        credentials: &Credentials,
        question: &str,
        today: chrono::NaiveDate,
    ) -> Result<pb::AskResponse> {
        let categories: Vec<(String, String)> = self
            .deps
            .ledger
            .categories(credentials)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        if let Some(llm) = &self.deps.llm {
            match self
                .ask_llm(llm, credentials, question, today, &categories)
                .await
            {
                Ok(answered) => {
                    metrics::counter!("ai_questions_total", "outcome" => "llm").increment(1);
                    return Ok(answered);
                }
                Err(error) => {
                    metrics::counter!("ai_llm_failures_total").increment(1);
                    tracing::warn!(error = %error, "answering offline: the language model gave no answer");
                }
            }
        }
        self.ask_offline(credentials, question, today, &categories)
            .await
    }

    /// The language model's answer: each `figures` call it makes is
    /// computed on the caller's own transactions, read as the caller.
    async fn ask_llm(
        &self,
        llm: &LlmClient,
        credentials: &Credentials,
        question: &str,
        today: chrono::NaiveDate,
        categories: &[(String, String)],
    ) -> Result<pb::AskResponse, crate::llm::LlmError> {
        let found = std::sync::Mutex::new((Vec::<String>::new(), Vec::<pb::AnswerItem>::new()));
        let run_tool = |args: serde_json::Value| {
            let found = &found;
            async move {
                let intent = match ask::intent_from_tool(&args, today, categories) {
                    Ok(intent) => intent,
                    Err(why) => return serde_json::json!({ "error": why }),
                };
                let answer = match self.figures(credentials, &intent, today, categories).await {
                    Ok(answer) => answer,
                    Err(error) => {
                        tracing::warn!(error = ?error, "a figures call of the language model failed");
                        return serde_json::json!({ "error": "the figures are unavailable right now" });
                    }
                };
                let figures: Vec<serde_json::Value> = answer
                    .items
                    .iter()
                    .map(|(label, currency, minor)| {
                        serde_json::json!({ "label": label, "amount": ask::amount(currency, *minor) })
                    })
                    .collect();
                let mut found = found
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                found.0.push(answer.interpretation.clone());
                found
                    .1
                    .extend(
                        answer
                            .items
                            .iter()
                            .map(|(label, currency, minor)| pb::AnswerItem {
                                label: label.clone(),
                                amount: Some(freedumb_kit::domain::money(currency, *minor)),
                            }),
                    );
                serde_json::json!({
                    "interpretation": answer.interpretation,
                    "answer": answer.text,
                    "figures": figures,
                })
            }
        };
        let text = llm.answer(question, &today.to_string(), run_tool).await?;
        let (interpretations, items) = found
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(pb::AskResponse {
            understood: true,
            answer: text,
            interpretation: interpretations.join("; "),
            items,
            source: pb::AnswerSource::Llm.into(),
        })
    }

    /// The answer to `intent` from the caller's transactions.
    async fn figures(
        &self,
        credentials: &Credentials,
        intent: &ask::Intent,
        today: chrono::NaiveDate,
        categories: &[(String, String)],
    ) -> Result<ask::Answer> {
        let transactions: Vec<Txn> = self
            .deps
            .ledger
            .transactions_since(credentials, Some(ask::earliest(intent, today)))
            .await?
            .iter()
            .filter_map(insight_txn)
            .filter(|t| t.date <= today)
            .collect();
        let recurring = if *intent == ask::Intent::Subscriptions {
            insights::recurring(&transactions, today)
        } else {
            Vec::new()
        };
        Ok(ask::answer(intent, &transactions, &recurring, categories))
    }

    /// The offline answer.
    async fn ask_offline(
        &self,
        credentials: &Credentials,
        question: &str,
        today: chrono::NaiveDate,
        categories: &[(String, String)],
    ) -> Result<pb::AskResponse> {
        let categories = categories.to_vec();
        let Some(intent) = ask::understand(question, today, &categories) else {
            metrics::counter!("ai_questions_total", "outcome" => "not_understood").increment(1);
            return Ok(pb::AskResponse {
                understood: false,
                answer: format!("I cannot answer that offline. I understand: {}", ask::FORMS),
                interpretation: String::new(),
                items: Vec::new(),
                source: pb::AnswerSource::Offline.into(),
            });
        };
        let answer = self
            .figures(credentials, &intent, today, &categories)
            .await?;
        metrics::counter!("ai_questions_total", "outcome" => "answered").increment(1);
        Ok(pb::AskResponse {
            understood: true,
            answer: answer.text,
            interpretation: answer.interpretation,
            items: answer
                .items
                .into_iter()
                .map(|(label, currency, minor)| pb::AnswerItem {
                    label,
                    amount: Some(freedumb_kit::domain::money(&currency, minor)),
                })
                .collect(),
            source: pb::AnswerSource::Offline.into(),
        })
    }

    async fn rule(&self, user_id: Uuid, id: Uuid) -> Result<RuleRecord> {
        self.deps
            .store
            .get_rule(user_id, id)
            .await?
            .ok_or(AiError::NotFound("rule"))
    }

    async fn check_category(&self, credentials: &Credentials, category: Uuid) -> Result<()> {
        self.deps
            .ledger
            .require_categories(credentials, &[category], |_| "rule.category_id".to_owned())
            .await?;
        Ok(())
    }

    async fn create_rule(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        spec: RuleSpec,
    ) -> Result<pb::CreateCategorizationRuleResponse> {
        self.check_category(credentials, spec.category_id).await?;
        let now = time::now();
        let record = RuleRecord {
            id: Uuid::now_v7(),
            user_id,
            name: spec.name.into_string(),
            conditions: spec.conditions,
            category_id: spec.category_id,
            stage: spec.stage,
            stop: spec.stop,
            create_time: now,
            update_time: now,
        };
        if !self.deps.store.create_rule(&record).await? {
            return Err(AiError::ResourceExhausted(format!(
                "a user may have at most {MAX_RULES} categorization rules"
            )));
        }
        Ok(pb::CreateCategorizationRuleResponse {
            rule: Some(convert::rule(&record)),
        })
    }

    async fn update_rule(
        &self,
        user_id: Uuid,
        credentials: &Credentials,
        patch: &pb::CategorizationRule,
        mask: &UpdateMask,
    ) -> Result<pb::UpdateCategorizationRuleResponse> {
        let id = parse_id("rule.id", &patch.id)?;
        let current = self.rule(user_id, id).await?;
        let mut merged = convert::rule(&current);
        for path in mask.paths() {
            match path.as_str() {
                "name" => merged.name.clone_from(&patch.name),
                "conditions" => merged.conditions.clone_from(&patch.conditions),
                "category_id" => merged.category_id.clone_from(&patch.category_id),
                "stage" => merged.stage = patch.stage,
                "stop" => merged.stop = patch.stop,
                _ => {}
            }
        }
        let spec = RuleSpec::parse(&merged)?;
        if spec.category_id != current.category_id {
            self.check_category(credentials, spec.category_id).await?;
        }
        let record = RuleRecord {
            name: spec.name.into_string(),
            conditions: spec.conditions,
            category_id: spec.category_id,
            stage: spec.stage,
            stop: spec.stop,
            update_time: time::now(),
            ..current
        };
        self.deps.store.update_rule(&record).await?;
        Ok(pb::UpdateCategorizationRuleResponse {
            rule: Some(convert::rule(&record)),
        })
    }
}

fn caller<T>(request: &Request<T>) -> Result<Uuid, Status> {
    Ok(freedumb_kit::auth::caller(request)?.user_id)
}

/// A request's id field that must hold an id.
fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    required_id(raw).map_err(|e| AiError::field(field, e))
}

#[tonic::async_trait]
impl AiService for AiApi {
    #[tracing::instrument(skip_all, fields(transactions = request.get_ref().transactions.len()))]
    async fn categorize(
        &self,
        request: Request<pb::CategorizeRequest>,
    ) -> Result<Response<pb::CategorizeResponse>, Status> {
        let user_id = caller(&request)?;
        let inputs = parse_batch(&request.get_ref().transactions).map_err(AiError::from)?;
        let credentials = Credentials::of(&request)?;
        let decisions = self
            .decide_all(user_id, &credentials, &inputs, false)
            .await?;
        Ok(Response::new(pb::CategorizeResponse {
            categorizations: decisions.iter().map(convert::categorization).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn explain_categorization(
        &self,
        request: Request<pb::ExplainCategorizationRequest>,
    ) -> Result<Response<pb::ExplainCategorizationResponse>, Status> {
        let user_id = caller(&request)?;
        let transaction = request.get_ref().transaction.clone().unwrap_or_default();
        let input = Input::parse(&transaction, "transaction.").map_err(AiError::from)?;
        let decision = self
            .decide_all(
                user_id,
                &Credentials::of(&request)?,
                std::slice::from_ref(&input),
                true,
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| AiError::Unexpected(anyhow::anyhow!("no decision for one input")))?;
        Ok(Response::new(pb::ExplainCategorizationResponse {
            categorization: Some(convert::categorization(&decision)),
            steps: decision.steps.iter().map(convert::step).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn create_categorization_rule(
        &self,
        request: Request<pb::CreateCategorizationRuleRequest>,
    ) -> Result<Response<pb::CreateCategorizationRuleResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let rule = request.get_ref().rule.clone().unwrap_or_default();
        let spec = RuleSpec::parse(&rule).map_err(AiError::from)?;
        Ok(Response::new(
            self.create_rule(user_id, &credentials, spec).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_categorization_rule(
        &self,
        request: Request<pb::GetCategorizationRuleRequest>,
    ) -> Result<Response<pb::GetCategorizationRuleResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("rule_id", &request.get_ref().rule_id)?;
        let rule = self.rule(user_id, id).await?;
        Ok(Response::new(pb::GetCategorizationRuleResponse {
            rule: Some(convert::rule(&rule)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_categorization_rules(
        &self,
        request: Request<pb::ListCategorizationRulesRequest>,
    ) -> Result<Response<pb::ListCategorizationRulesResponse>, Status> {
        let user_id = caller(&request)?;
        let rules = self
            .deps
            .store
            .list_rules(user_id)
            .await
            .map_err(AiError::from)?;
        Ok(Response::new(pb::ListCategorizationRulesResponse {
            rules: rules.iter().map(convert::rule).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_categorization_rule(
        &self,
        request: Request<pb::UpdateCategorizationRuleRequest>,
    ) -> Result<Response<pb::UpdateCategorizationRuleResponse>, Status> {
        let user_id = caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let req = request.get_ref();
        let mask =
            UpdateMask::parse(req.update_mask.as_ref(), RULE_UPDATABLE).map_err(AiError::from)?;
        let patch = req.rule.clone().unwrap_or_default();
        Ok(Response::new(
            self.update_rule(user_id, &credentials, &patch, &mask)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_categorization_rule(
        &self,
        request: Request<pb::DeleteCategorizationRuleRequest>,
    ) -> Result<Response<pb::DeleteCategorizationRuleResponse>, Status> {
        let user_id = caller(&request)?;
        let id = parse_id("rule_id", &request.get_ref().rule_id)?;
        self.deps
            .store
            .delete_rule(user_id, id)
            .await
            .map_err(AiError::from)?;
        Ok(Response::new(pb::DeleteCategorizationRuleResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn suggest_rules(
        &self,
        request: Request<pb::SuggestRulesRequest>,
    ) -> Result<Response<pb::SuggestRulesResponse>, Status> {
        let user_id = caller(&request)?;
        let max = match request.get_ref().max_suggestions {
            0 => DEFAULT_SUGGESTIONS,
            n @ 1..=100 => n.unsigned_abs() as usize,
            n => {
                return Err(AiError::field(
                    "max_suggestions",
                    format!("must be 0 to 100, got {n}"),
                )
                .into());
            }
        };
        Ok(Response::new(self.suggestions(user_id, max).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn get_insights(
        &self,
        request: Request<pb::GetInsightsRequest>,
    ) -> Result<Response<pb::GetInsightsResponse>, Status> {
        caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let as_of = optional_date(request.get_ref().as_of.as_ref())
            .map_err(|e| AiError::field("as_of", e))?
            .unwrap_or_else(|| time::now().date_naive());
        Ok(Response::new(self.insights(&credentials, as_of).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn ask(
        &self,
        request: Request<pb::AskRequest>,
    ) -> Result<Response<pb::AskResponse>, Status> {
        caller(&request)?;
        let credentials = Credentials::of(&request)?;
        let question = request.get_ref().question.trim();
        if question.is_empty() {
            return Err(AiError::field("question", "is required").into());
        }
        if question.chars().count() > ask::MAX_QUESTION {
            return Err(AiError::field(
                "question",
                format!("must be at most {} characters", ask::MAX_QUESTION),
            )
            .into());
        }
        let today = time::now().date_naive();
        match tokio::time::timeout(ASK_DEADLINE, self.ask(&credentials, question, today)).await {
            Ok(answered) => Ok(Response::new(answered?)),
            Err(_) => {
                Err(AiError::DeadlineExceeded("the answer took longer than 2 seconds").into())
            }
        }
    }
}

/// How long an answer may take.
const ASK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Suggestions unless the request asks for another number.
const DEFAULT_SUGGESTIONS: usize = 20;
/// How far back insights read.
const INSIGHT_MONTHS: u32 = 13;

/// A ledger transaction as insights and answers see it.
fn insight_txn(t: &freedumb_proto::ledger::Transaction) -> Option<Txn> {
    let amount = t.amount.as_ref()?;
    let date = freedumb_kit::domain::required_date(t.date.as_ref()).ok()?;
    Some(Txn {
        id: t.id.clone(),
        date,
        amount_minor: amount.amount_minor,
        currency: amount.currency_code.clone(),
        merchant: merchant_of(&t.merchant, &t.description),
        category_id: t.category_id.clone(),
        account_id: t.account_id.clone(),
        splits: t
            .splits
            .iter()
            .map(|s| (s.category_id.clone(), s.amount_minor))
            .collect(),
        transfer: !t.transfer_id.is_empty(),
    })
}
