//! CSV import: bad lines are reported, lines seen before are skipped.

use crate::helpers::spawn_app;
use crate::ledger_support::{
    account, assert_ledger_consistent, balance, import, list_all, open_account, options,
};

#[tokio::test]
async fn csv_import_reports_bad_lines_and_skips_lines_seen_before() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ledger = app.ledger().await;
    let acc = open_account(&mut ledger, &token, "EUR", 0).await;
    let csv = "Date;Amount;Description\n\
               01.03.2026;-1.234,50;Rent\n\
               02.03.2026;-3,20;Coffee\n\
               02.03.2026;-3,20;Coffee\n\
               31.02.2026;-1,00;Bad date\n\
               03.03.2026;12,345;Too precise\n\
               04.03.2026;2.500,00;Salary\n";
    let mut opts = options(&acc.id, true);
    opts.delimiter = ";".into();
    opts.date_format = "%d.%m.%Y".into();
    opts.decimal_separator = ",".into();
    opts.thousands_separator = ".".into();
    let first = import(&mut ledger, &token, opts.clone(), csv.as_bytes().to_vec())
        .await
        .expect("import");
    assert_eq!((first.imported, first.skipped_duplicates), (4, 0));
    let lines: Vec<(i64, &str)> = first
        .errors
        .iter()
        .map(|e| (e.line, e.field.as_str()))
        .collect();
    assert_eq!(lines, [(5, "date_column"), (6, "amount_column")]);
    assert_eq!(
        balance(&account(&mut ledger, &token, &acc.id).await),
        -123_450 - 640 + 250_000
    );

    let again = import(&mut ledger, &token, opts, csv.as_bytes().to_vec())
        .await
        .expect("import again");
    assert_eq!((again.imported, again.skipped_duplicates), (0, 4));
    assert_eq!(
        list_all(&mut ledger, &token, Default::default())
            .await
            .len(),
        4
    );
    assert_ledger_consistent(&mut ledger, &token, &[acc]).await;
}
