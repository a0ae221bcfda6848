//! Bulk writes on Postgres through `COPY … FROM STDIN`: the rows travel as
//! one stream of CSV instead of statements with thousands of bind
//! parameters, which Postgres parses, plans and binds far more slowly than
//! it reads a `COPY`. Stores generic over the backend reach the Postgres
//! connection with [`postgres`] and keep their multi-row inserts for
//! SQLite.

use std::any::Any;
use std::io::Write as _;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// The Postgres connection behind a store's generic connection, when it
/// is one.
pub fn postgres<C: Any>(conn: &mut C) -> Option<&mut PgConnection> {
    (conn as &mut dyn Any).downcast_mut::<PgConnection>()
}

/// Rows in the CSV form `COPY … (FORMAT csv, NULL '\N')` reads. Text is
/// always quoted, and a quoted value is never NULL, so no text (not even
/// `\N`) can be read back as NULL.
#[derive(Debug, Default)]
pub struct CopyRows {
    buf: Vec<u8>,
    rows: usize,
    in_row: bool,
}

impl CopyRows {
    /// No rows yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many rows were ended.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn field(&mut self) -> &mut Vec<u8> {
        if self.in_row {
            self.buf.push(b',');
        }
        self.in_row = true;
        &mut self.buf
    }

    /// A text value.
    pub fn text(&mut self, value: &str) -> &mut Self {
        let buf = self.field();
        buf.push(b'"');
        for &b in value.as_bytes() {
            if b == b'"' {
                buf.push(b'"');
            }
            buf.push(b);
        }
        buf.push(b'"');
        self
    }

    /// A NULL.
    pub fn null(&mut self) -> &mut Self {
        self.field().extend_from_slice(b"\\N");
        self
    }

    /// A UUID.
    pub fn uuid(&mut self, id: Uuid) -> &mut Self {
        let mut text = Uuid::encode_buffer();
        let text = id.hyphenated().encode_lower(&mut text);
        self.field().extend_from_slice(text.as_bytes());
        self
    }

    /// A UUID or NULL.
    pub fn opt_uuid(&mut self, id: Option<Uuid>) -> &mut Self {
        match id {
            Some(id) => self.uuid(id),
            None => self.null(),
        }
    }

    /// An integer.
    pub fn int(&mut self, n: i64) -> &mut Self {
        // Writing to a Vec cannot fail.
        let _ = write!(self.field(), "{n}");
        self
    }

    /// A boolean.
    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.field().push(if b { b't' } else { b'f' });
        self
    }

    /// A `bytea` (hex form).
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let buf = self.field();
        buf.extend_from_slice(b"\\x");
        for &b in bytes {
            buf.push(HEX[usize::from(b >> 4)]);
            buf.push(HEX[usize::from(b & 0xf)]);
        }
        self
    }

    /// A `bytea` or NULL.
    pub fn opt_bytes(&mut self, bytes: Option<&[u8]>) -> &mut Self {
        match bytes {
            Some(bytes) => self.bytes(bytes),
            None => self.null(),
        }
    }

    /// A date (ISO 8601; years 1 to 9999, as the domain allows).
    pub fn date(&mut self, date: NaiveDate) -> &mut Self {
        let _ = write!(self.field(), "{}", date.format("%Y-%m-%d"));
        self
    }

    /// A date or NULL.
    pub fn opt_date(&mut self, date: Option<NaiveDate>) -> &mut Self {
        match date {
            Some(date) => self.date(date),
            None => self.null(),
        }
    }

    /// A `timestamptz` (RFC 3339 to the microsecond, what Postgres keeps).
    pub fn time(&mut self, time: DateTime<Utc>) -> &mut Self {
        let text = time.to_rfc3339_opts(SecondsFormat::Micros, true);
        self.field().extend_from_slice(text.as_bytes());
        self
    }

    /// Ends the current row.
    pub fn end_row(&mut self) -> &mut Self {
        self.buf.push(b'\n');
        self.in_row = false;
        self.rows += 1;
        self
    }

    /// Sends the rows to `target` (`table (column, …)`, the columns in the
    /// order the rows give them) on `conn`; returns how many Postgres
    /// stored.
    pub async fn copy_into(
        self,
        conn: &mut PgConnection,
        target: &str,
    ) -> Result<u64, sqlx::Error> {
        let statement = format!("COPY {target} FROM STDIN (FORMAT csv, NULL '\\N')");
        let mut copy = conn.copy_in_raw(&statement).await?;
        if let Err(e) = copy.send(self.buf).await {
            // The connection is told the copy is over, so it stays usable
            // for the rollback.
            let _ = copy.abort("sending the rows failed").await;
            return Err(e);
        }
        copy.finish().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_csv_with_quoted_text_and_unquoted_nulls() {
        let mut rows = CopyRows::new();
        rows.uuid(Uuid::nil())
            .text("say \"hi\", \\N\nbye")
            .null()
            .int(-42)
            .bool(true)
            .bytes(&[0x00, 0xab, 0xff])
            .opt_date(NaiveDate::from_ymd_opt(1, 2, 3))
            .time(DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("a time"))
            .end_row();
        rows.text("").end_row();
        assert_eq!(rows.rows(), 2);
        assert_eq!(
            String::from_utf8(rows.buf).expect("utf-8"),
            "00000000-0000-0000-0000-000000000000,\"say \"\"hi\"\", \\N\nbye\",\\N,-42,t,\
             \\x00abff,0001-02-03,2023-11-14T22:13:20.123456Z\n\"\"\n"
        );
    }

    #[tokio::test]
    async fn postgres_reads_back_what_was_written() {
        use sqlx::Connection as _;
        let Some(url) = crate::testing::fresh_postgres_database().await else {
            return;
        };
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        sqlx::query(
            "CREATE TABLE t (id UUID, label TEXT, n BIGINT, b BOOLEAN, raw BYTEA, \
             day DATE, at TIMESTAMPTZ)",
        )
        .execute(&mut conn)
        .await
        .expect("create");
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_000).expect("a time");
        let tricky = "quote \" comma , newline \n\r backslash \\N tab \t ünï €";
        let day = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date");
        let mut rows = CopyRows::new();
        rows.uuid(Uuid::max())
            .text(tricky)
            .int(i64::MIN)
            .bool(false)
            .bytes(b"\x00\"\\")
            .date(day)
            .time(at)
            .end_row();
        rows.null()
            .text("")
            .null()
            .null()
            .opt_bytes(None)
            .opt_date(None)
            .time(at)
            .end_row();
        let stored = rows
            .copy_into(
                postgres(&mut conn).expect("a Postgres connection"),
                "t (id, label, n, b, raw, day, at)",
            )
            .await
            .expect("copy");
        assert_eq!(stored, 2);
        type Row = (
            Option<Uuid>,
            Option<String>,
            Option<i64>,
            Option<bool>,
            Option<Vec<u8>>,
            Option<NaiveDate>,
            DateTime<Utc>,
        );
        let back: Vec<Row> = sqlx::query_as("SELECT * FROM t ORDER BY n NULLS LAST")
            .fetch_all(&mut conn)
            .await
            .expect("select");
        assert_eq!(
            back,
            vec![
                (
                    Some(Uuid::max()),
                    Some(tricky.to_owned()),
                    Some(i64::MIN),
                    Some(false),
                    Some(b"\x00\"\\".to_vec()),
                    Some(day),
                    at
                ),
                (None, Some(String::new()), None, None, None, None, at),
            ]
        );
    }
}
