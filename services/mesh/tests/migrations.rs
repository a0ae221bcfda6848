//! Every service's down migrations run: up, down to nothing, up again, on
//! SQLite and on Postgres (required in CI), for each database the registry
//! knows. A release that cannot be reverted in development is caught here;
//! production rollouts follow expand/contract instead (docs/DEPLOYMENT.md).

use freedumb_kit::testing::assert_migrations_round_trip;
use freedumb_mesh::registry::REGISTRY;

#[tokio::test]
async fn every_migration_reverts_and_applies_again() {
    let databases: Vec<_> = REGISTRY.iter().filter_map(|m| m.database).collect();
    assert_eq!(databases.len(), 7, "one database per domain service");
    for database in databases {
        let (service, migrations) = database();
        assert_migrations_round_trip(service, &migrations).await;
    }
}
