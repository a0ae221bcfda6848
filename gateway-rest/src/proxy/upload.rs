//! The file of an upload route: the request body itself (its
//! `Content-Type` says what it is), or the one file part of a
//! `multipart/form-data` body, as browsers' forms send it.

use bytes::Bytes;
use http::HeaderMap;

use crate::errors::GatewayError;
use crate::transcode::{BadRequest, File};

/// The uploaded file of a call.
pub async fn file(headers: &HeaderMap, body: Bytes) -> Result<File, GatewayError> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(boundary) = multer::parse_boundary(&content_type) else {
        return Ok(File {
            content_type,
            data: body,
        });
    };
    let bad = |why: String| GatewayError::InvalidRequest(BadRequest::new("body", why));
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut found: Option<File> = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("malformed multipart body: {e}")))?
    {
        // The file part: the one with a file name (or named `file`). Any
        // other part is refused, as an unknown JSON field is: an option
        // sent as a form field (`format=OFX`) must not be dropped in
        // silence; options go in the query.
        let is_file = field.file_name().is_some() || field.name() == Some("file");
        if !is_file {
            return Err(bad(format!(
                "has a part `{}` besides the file; send the file alone (the import's options go in the query)",
                field.name().unwrap_or_default()
            )));
        }
        if found.is_some() {
            return Err(bad("carries more than one file; send one".into()));
        }
        let content_type = field
            .content_type()
            .map(ToString::to_string)
            .unwrap_or_default();
        let data = field
            .bytes()
            .await
            .map_err(|e| bad(format!("malformed multipart body: {e}")))?;
        found = Some(File { content_type, data });
    }
    found.ok_or_else(|| bad("the multipart body has no file part".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            content_type.parse().expect("a header value"),
        );
        headers
    }

    #[tokio::test]
    async fn a_plain_body_is_the_file() {
        let file = file(&headers("text/csv"), Bytes::from_static(b"a,b\n"))
            .await
            .expect("a file");
        assert_eq!(file.content_type, "text/csv");
        assert_eq!(&file.data[..], b"a,b\n");
    }

    #[tokio::test]
    async fn the_file_part_of_a_form_is_the_file() {
        let body = "--XyZ\r\n\
             Content-Disposition: form-data; name=\"statement\"; filename=\"jan.ofx\"\r\n\
             Content-Type: application/x-ofx\r\n\r\n\
             OFXHEADER:100\r\n\
             --XyZ--\r\n";
        let file = file(
            &headers("multipart/form-data; boundary=XyZ"),
            Bytes::from(body),
        )
        .await
        .expect("a file");
        assert_eq!(file.content_type, "application/x-ofx");
        assert_eq!(&file.data[..], b"OFXHEADER:100");
    }

    #[tokio::test]
    async fn a_form_without_a_file_or_broken_is_refused() {
        let no_file = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--XyZ--\r\n";
        let broken = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nunterminated";
        let another_part = "--XyZ\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\nOFX\r\n\
             --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.ofx\"\r\n\r\nOFXHEADER:100\r\n--XyZ--\r\n";
        for body in [no_file, broken, another_part] {
            let err = file(
                &headers("multipart/form-data; boundary=XyZ"),
                Bytes::from(body),
            )
            .await
            .expect_err("refused");
            assert!(matches!(err, GatewayError::InvalidRequest(_)), "{body}");
        }
    }
}
