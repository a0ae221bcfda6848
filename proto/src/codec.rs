//! The protobuf codec every generated FREEDUMB client and server uses.
//!
//! It is tonic-prost's codec with one change: a request that does not decode
//! (invalid UTF-8 in a string, a truncated field, a message over
//! [`MAX_MESSAGE_BYTES`]) is the client's fault, so it is answered with
//! INVALID_ARGUMENT and a `BadRequest` detail instead of tonic's INTERNAL.

use std::marker::PhantomData;

use prost::Message;
use prost::bytes::Buf;
use tonic::Status;
use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, StatusExt};

/// The largest message a FREEDUMB service decodes. Larger ones get
/// INVALID_ARGUMENT. (The transport refuses anything over 4 MiB before it is
/// buffered, with OUT_OF_RANGE.)
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024 * 1024;

/// Requests that carry a whole file (a bank statement): bounded by their
/// server's own limit (the transport's `max_decoding_message_size`, which
/// the ledger sets from its `import_max_bytes`), not by
/// [`MAX_MESSAGE_BYTES`].
const FILE_REQUESTS: [&str; 2] = [
    "freedumb::ledger::v1::CreateImportRequest",
    "freedumb::ledger::v1::PreviewImportRequest",
];

/// The largest `U` decoded.
fn limit_of<U>() -> usize {
    let name = std::any::type_name::<U>();
    if FILE_REQUESTS.iter().any(|file| name.ends_with(file)) {
        usize::MAX
    } else {
        MAX_MESSAGE_BYTES
    }
}

/// `application/grpc+proto` via prost, with client-fault decode errors.
#[derive(Debug, Clone)]
pub struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ValidatingDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ValidatingDecoder(PhantomData)
    }
}

/// Decodes `U`, reporting malformed input as INVALID_ARGUMENT.
#[derive(Debug, Clone, Default)]
pub struct ValidatingDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for ValidatingDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let len = buf.remaining();
        if len > limit_of::<U>() {
            return Err(malformed(format!(
                "message is {len} bytes; the limit is {MAX_MESSAGE_BYTES}"
            )));
        }
        U::decode(buf)
            .map(Some)
            .map_err(|e| malformed(format!("message is not valid protobuf: {e}")))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

fn malformed(description: String) -> Status {
    let mut details = ErrorDetails::with_bad_request_violation("request", description);
    details.set_error_info("INVALID_ARGUMENT", "freedumb.dev", []);
    Status::with_error_details(
        tonic::Code::InvalidArgument,
        "the request message could not be decoded",
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_requests_go_past_the_message_limit() {
        assert_eq!(limit_of::<crate::ledger::CreateImportRequest>(), usize::MAX);
        assert_eq!(
            limit_of::<crate::ledger::PreviewImportRequest>(),
            usize::MAX
        );
        assert_eq!(
            limit_of::<crate::ledger::CreateTransactionRequest>(),
            MAX_MESSAGE_BYTES
        );
        assert_eq!(
            limit_of::<crate::ledger::ImportTransactionsRequest>(),
            MAX_MESSAGE_BYTES
        );
    }
}
