//! The kubelet's plugin-registration client dials the registration socket by its path with
//! grpc-go and sets no authority, so every request carries the socket's path as the HTTP/2
//! `:authority` (percent-encoded: `%2Fvar%2Flib%2Fkubelet%2Fplugins_registry%2F...-reg.sock`).
//! The `h2` crate under tonic parses `:authority` as a URI authority, rejects it and resets the
//! stream with
//! PROTOCOL_ERROR before any service sees it (hyperium/h2 pull request 487 is still open): the
//! kubelet would never register the driver. Kubelets before 1.26 sent the path on CSI calls too.
//!
//! So every connection accepted on a plugin socket is relayed: the client's header blocks are
//! decoded (HPACK, with the client's dynamic table, one decoder per connection),
//! `:authority` becomes `localhost` (what the kubelet's CSI client sends since 1.26), and the
//! block is encoded again with literal fields only, so the server's table stays untouched. Every
//! other frame, and everything the server sends, passes byte for byte.

use loona_hpack::Decoder;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::UnixStream;

const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The smallest maximum frame size a peer may set (RFC 9113): fragments never exceed it.
const MAX_FRAGMENT: usize = 16_384;
/// What replaces an `:authority` that is not one.
pub const AUTHORITY: &[u8] = b"localhost";

/// A client's HTTP/2 bytes that cannot be relayed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Not HTTP/2 with prior knowledge.
    #[error("the client did not open with the HTTP/2 preface")]
    Preface,
    /// A frame is not what its header says.
    #[error("malformed HTTP/2 frame: {0}")]
    Frame(&'static str),
    /// The header block does not decode.
    #[error("undecodable header block: {0}")]
    Hpack(String),
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One frame's header (RFC 9113 section 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FrameHead {
    length: usize,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl FrameHead {
    fn parse(b: &[u8; 9]) -> Self {
        Self {
            length: usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let len = u32::try_from(self.length).unwrap_or(u32::MAX).to_be_bytes();
        out.extend_from_slice(&len[1..]);
        out.push(self.kind);
        out.push(self.flags);
        out.extend_from_slice(&self.stream.to_be_bytes());
    }
}

/// The header block fragment of a HEADERS frame's payload (without padding and priority).
fn fragment(flags: u8, payload: &[u8]) -> Result<&[u8], RelayError> {
    let mut p = payload;
    if flags & PADDED != 0 {
        let (&pad, rest) = p
            .split_first()
            .ok_or(RelayError::Frame("empty padded HEADERS"))?;
        p = rest
            .get(..rest.len().saturating_sub(usize::from(pad)))
            .filter(|_| usize::from(pad) <= rest.len())
            .ok_or(RelayError::Frame("padding longer than the HEADERS frame"))?;
    }
    if flags & PRIORITY != 0 {
        p = p
            .get(5..)
            .ok_or(RelayError::Frame("HEADERS too short for its priority"))?;
    }
    Ok(p)
}

/// Whether h2 accepts `value` as `:authority` (it applies this very parser).
fn valid_authority(value: &[u8]) -> bool {
    tonic::codegen::http::uri::Authority::try_from(value).is_ok()
}

/// Decodes a header block and encodes it again with `:authority` replaced when it is not a
/// valid authority (a socket path, which grpc-go also percent-encodes), as literal fields
/// without indexing.
pub fn rewrite_block(decoder: &mut Decoder<'static>, block: &[u8]) -> Result<Vec<u8>, RelayError> {
    let mut fields: Vec<(Vec<u8>, Vec<u8>)> = vec![];
    decoder
        .decode_with_cb(block, |name, value| {
            fields.push((name.into_owned(), value.into_owned()))
        })
        .map_err(|e| RelayError::Hpack(e.to_string()))?;
    let mut out = Vec::with_capacity(block.len() + 16);
    for (name, value) in &fields {
        let value = if name == b":authority" && !valid_authority(value) {
            AUTHORITY
        } else {
            value.as_slice()
        };
        out.push(0x00); // literal header field without indexing, new name (RFC 7541 6.2.2)
        encode_string(&mut out, name);
        encode_string(&mut out, value);
    }
    Ok(out)
}

/// An HPACK string literal, not Huffman-coded (RFC 7541 5.2).
fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    // The length as a 7-bit prefix integer (RFC 7541 5.1).
    let mut len = s.len();
    if len < 0x7f {
        out.push(u8::try_from(len).unwrap_or(0x7f));
    } else {
        out.push(0x7f);
        len -= 0x7f;
        while len >= 0x80 {
            out.push(u8::try_from(len & 0x7f).unwrap_or(0) | 0x80);
            len >>= 7;
        }
        out.push(u8::try_from(len).unwrap_or(0));
    }
    out.extend_from_slice(s);
}

/// The HEADERS frame (and CONTINUATION frames) carrying `block` on `stream`.
fn header_frames(stream: u32, end_stream: bool, block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() + 18);
    let chunks: Vec<&[u8]> = if block.is_empty() {
        vec![&[]]
    } else {
        block.chunks(MAX_FRAGMENT).collect()
    };
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut flags = 0;
        if i == 0 && end_stream {
            flags |= END_STREAM;
        }
        if i == last {
            flags |= END_HEADERS;
        }
        FrameHead {
            length: chunk.len(),
            kind: if i == 0 { HEADERS } else { CONTINUATION },
            flags,
            stream,
        }
        .write(&mut out);
        out.extend_from_slice(chunk);
    }
    out
}

async fn read_frame(
    r: &mut (impl AsyncRead + Unpin),
) -> Result<Option<(FrameHead, Vec<u8>)>, RelayError> {
    let mut head = [0u8; 9];
    match r.read_exact(&mut head).await {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        other => {
            other?;
        }
    }
    let head = FrameHead::parse(&head);
    let mut payload = vec![0u8; head.length];
    r.read_exact(&mut payload).await?;
    Ok(Some((head, payload)))
}

/// Client to server: header blocks rewritten, everything else copied.
async fn client_to_server(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
) -> Result<(), RelayError> {
    let mut preface = [0u8; 24];
    from.read_exact(&mut preface).await?;
    if &preface != PREFACE {
        return Err(RelayError::Preface);
    }
    to.write_all(&preface).await?;
    let mut decoder = Decoder::new();
    while let Some((head, payload)) = read_frame(&mut from).await? {
        if head.kind != HEADERS {
            let mut raw = Vec::with_capacity(9 + payload.len());
            head.write(&mut raw);
            raw.extend_from_slice(&payload);
            to.write_all(&raw).await?;
            continue;
        }
        let mut block = fragment(head.flags, &payload)?.to_vec();
        let mut flags = head.flags;
        while flags & END_HEADERS == 0 {
            let (next, more) = read_frame(&mut from)
                .await?
                .ok_or(RelayError::Frame("header block cut short"))?;
            if next.kind != CONTINUATION || next.stream != head.stream {
                return Err(RelayError::Frame(
                    "HEADERS not followed by its CONTINUATION",
                ));
            }
            block.extend_from_slice(&more);
            flags = next.flags;
        }
        let block = rewrite_block(&mut decoder, &block)?;
        to.write_all(&header_frames(
            head.stream,
            head.flags & END_STREAM != 0,
            &block,
        ))
        .await?;
    }
    to.shutdown().await?;
    Ok(())
}

/// Relays one accepted connection; returns the end the gRPC server serves.
pub fn relay(socket: UnixStream) -> Relayed {
    let (server_side, relay_side) = tokio::io::duplex(64 * 1024);
    let (socket_read, mut socket_write) = socket.into_split();
    let (mut relay_read, relay_write) = tokio::io::split(relay_side);
    tokio::spawn(async move {
        let up = client_to_server(socket_read, relay_write);
        let down = async {
            tokio::io::copy(&mut relay_read, &mut socket_write).await?;
            socket_write.shutdown().await
        };
        let (up, down) = tokio::join!(up, down);
        if let Err(e) = up {
            tracing::debug!(error = %e, "plugin socket connection ended");
        }
        if let Err(e) = down {
            tracing::debug!(error = %e, "plugin socket connection ended");
        }
    });
    Relayed(server_side)
}

/// The server's end of a relayed connection.
#[derive(Debug)]
pub struct Relayed(DuplexStream);

impl AsyncRead for Relayed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Relayed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Relayed {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use loona_hpack::Encoder;

    // What grpc-go sends when dialled by path.
    const SOCKET: &[u8] = b"%2Fvar%2Flib%2Fkubelet%2Fplugins_registry%2Ffuse.csi.fluid.io-reg.sock";

    fn request(authority: &[u8]) -> Vec<(&[u8], &[u8])> {
        vec![
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", b"/pluginregistration.Registration/GetInfo"),
            (b":authority", authority),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ]
    }

    fn decode(block: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = vec![];
        Decoder::new()
            .decode_with_cb(block, |n, v| out.push((n.into_owned(), v.into_owned())))
            .unwrap();
        out
    }

    #[test]
    fn a_socket_path_authority_becomes_localhost_across_a_dynamic_table() {
        // The client's encoder indexes fields; the second request refers to the first's.
        let mut client = Encoder::new();
        let mut relay = Decoder::new();
        for _ in 0..2 {
            let sent = client.encode(request(SOCKET));
            let got = decode(&rewrite_block(&mut relay, &sent).unwrap());
            let want: Vec<(Vec<u8>, Vec<u8>)> = request(AUTHORITY)
                .into_iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn what_h2_refuses_is_replaced() {
        assert!(!valid_authority(SOCKET));
        assert!(!valid_authority(
            b"/var/lib/kubelet/plugins_registry/x-reg.sock"
        ));
        assert!(valid_authority(b"localhost"));
    }

    #[test]
    fn a_valid_authority_is_kept() {
        let sent = Encoder::new().encode(request(b"localhost:50051"));
        let got = decode(&rewrite_block(&mut Decoder::new(), &sent).unwrap());
        assert!(got.contains(&(b":authority".to_vec(), b"localhost:50051".to_vec())));
    }

    #[test]
    fn frames_are_split_and_flagged() {
        let block = vec![0u8; MAX_FRAGMENT + 10];
        let frames = header_frames(3, true, &block);
        let first = FrameHead::parse(frames[..9].try_into().unwrap());
        assert_eq!(
            (first.length, first.kind, first.flags, first.stream),
            (MAX_FRAGMENT, HEADERS, END_STREAM, 3)
        );
        let at = 9 + MAX_FRAGMENT;
        let second = FrameHead::parse(frames[at..at + 9].try_into().unwrap());
        assert_eq!(
            (second.length, second.kind, second.flags),
            (10, CONTINUATION, END_HEADERS)
        );
        let long = [b'x'; 300];
        let mut out = vec![];
        encode_string(&mut out, &long);
        assert_eq!(&out[..3], &[0x7f, 0xad, 0x01]); // 300 = 127 + 173; 173 = 0x2d | 0x80, 1
    }

    #[test]
    fn padding_and_priority_are_dropped() {
        let payload = [2u8, 0, 0, 0, 0, 9, 0xaa, 0xbb, 0, 0];
        assert_eq!(
            fragment(PADDED | PRIORITY, &payload).unwrap(),
            &[0xaa, 0xbb]
        );
        assert!(fragment(PADDED, &[5u8, 1]).is_err());
    }
}
