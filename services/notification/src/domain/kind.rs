use freedumb_proto::notification as pb;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A budget crossed a threshold.
    BudgetThreshold,
    /// A large transaction was recorded.
    LargeTransaction,
    /// A recurring rule recorded a transaction.
    RecurringRecorded,
    /// A sign-in from a new client.
    NewSignIn,
    /// A savings goal reached its target.
    GoalReached,
    /// Someone registered the address (email only, not configurable).
    Registration,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::BudgetThreshold,
        Self::LargeTransaction,
        Self::RecurringRecorded,
        Self::NewSignIn,
        Self::GoalReached,
        Self::Registration,
    ];

    /// The stored name (also the webhook payload's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BudgetThreshold => "budget.threshold_crossed",
            Self::LargeTransaction => "transaction.large",
            Self::RecurringRecorded => "transaction.recurring_recorded",
            Self::NewSignIn => "account.new_sign_in",
            Self::GoalReached => "goal.reached",
            Self::Registration => "account.registration",
        }
    }

    /// A stored name back.
    pub fn from_stored(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The API form.
    pub fn to_pb(self) -> pb::NotificationKind {
        match self {
            Self::BudgetThreshold => pb::NotificationKind::BudgetThreshold,
            Self::LargeTransaction => pb::NotificationKind::LargeTransaction,
            Self::RecurringRecorded => pb::NotificationKind::RecurringRecorded,
            Self::NewSignIn => pb::NotificationKind::NewSignIn,
            Self::GoalReached => pb::NotificationKind::GoalReached,
            Self::Registration => pb::NotificationKind::Registration,
        }
    }

    /// Parses the API form, as a kind a user may configure (preferences,
    /// webhook endpoints): every kind but `Registration`.
    pub fn parse(raw: i32) -> Result<Self, String> {
        match pb::NotificationKind::try_from(raw) {
            Ok(pb::NotificationKind::BudgetThreshold) => Ok(Self::BudgetThreshold),
            Ok(pb::NotificationKind::LargeTransaction) => Ok(Self::LargeTransaction),
            Ok(pb::NotificationKind::RecurringRecorded) => Ok(Self::RecurringRecorded),
            Ok(pb::NotificationKind::NewSignIn) => Ok(Self::NewSignIn),
            Ok(pb::NotificationKind::GoalReached) => Ok(Self::GoalReached),
            Ok(pb::NotificationKind::Registration) => Err(
                "is sent by email only, to the address registered; it cannot be configured".into(),
            ),
            Ok(pb::NotificationKind::Unspecified) => Err("is required".into()),
            Err(_) => Err(format!("{raw} is not a notification kind")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_storage_and_the_api() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_stored(kind.as_str()), Some(kind));
            if kind != Kind::Registration {
                assert_eq!(Kind::parse(kind.to_pb() as i32), Ok(kind));
            }
        }
        assert!(
            Kind::parse(Kind::Registration.to_pb() as i32)
                .expect_err("not configurable")
                .contains("email only")
        );
        assert!(Kind::parse(0).is_err());
        assert!(Kind::parse(99).is_err());
    }
}
