//! Riak's protocol buffers framing, as far as a login needs it: a frame
//! is a 4-byte big-endian length of (1 code byte + protobuf body), then
//! the code byte, then the body (riak_api's `riak_pb_codec`).

use std::io::{self, Read, Write};

/// `RpbErrorResp`: field 1 `errmsg` (bytes), field 2 `errcode` (uint32).
pub const ERROR_RESP: u8 = 0;
/// `RpbPingReq`, empty.
pub const PING_REQ: u8 = 1;
/// `RpbPingResp`, empty.
pub const PING_RESP: u8 = 2;
/// `RpbAuthReq`: field 1 `user` (bytes), field 2 `password` (bytes).
pub const AUTH_REQ: u8 = 253;
/// `RpbAuthResp`, empty.
pub const AUTH_RESP: u8 = 254;
/// `RpbStartTls`, empty; the server answers with the same code.
pub const START_TLS: u8 = 255;

/// The largest frame read: every answer of a login is a few bytes, an
/// error message a few hundred; anything bigger is not a login's answer.
const MAX_FRAME: u32 = 64 * 1024;

/// Write one frame.
pub fn write_frame(w: &mut impl Write, code: u8, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len() + 1)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    let mut frame = Vec::with_capacity(5 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.push(code);
    frame.extend_from_slice(body);
    w.write_all(&frame)?;
    w.flush()
}

/// Read one frame: its code and body.
pub fn read_frame(r: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes, not a Riak answer"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    let body = buf.split_off(1);
    Ok((buf[0], body))
}

/// The body of `RpbAuthReq`.
pub fn auth_req(user: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (field, value) in [(1u8, user.as_bytes()), (2, password.as_bytes())] {
        out.push(field << 3 | 2); // wire type 2: length-delimited
        put_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

/// An `RpbErrorResp` body: (errmsg, errcode). Unknown fields are skipped;
/// a body that does not parse yields what was read before it.
pub fn error_resp(body: &[u8]) -> (String, u32) {
    let (mut msg, mut code) = (String::new(), 0u32);
    let mut rest = body;
    while let Some((key, after)) = varint(rest) {
        rest = after;
        match (key >> 3, key & 7) {
            (field, 2) => {
                let Some((len, after)) = varint(rest) else {
                    break;
                };
                let Some(value) = usize::try_from(len).ok().and_then(|l| after.get(..l)) else {
                    break;
                };
                if field == 1 {
                    msg = String::from_utf8_lossy(value).into_owned();
                }
                rest = &after[value.len()..];
            }
            (field, 0) => {
                let Some((v, after)) = varint(rest) else {
                    break;
                };
                if field == 2 {
                    code = u32::try_from(v).unwrap_or(u32::MAX);
                }
                rest = after;
            }
            _ => break,
        }
    }
    (msg, code)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(b: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_length_code_body() {
        let mut out = Vec::new();
        write_frame(&mut out, START_TLS, &[]).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 255]);
        let mut out = Vec::new();
        write_frame(&mut out, AUTH_REQ, &auth_req("alice", "")).unwrap();
        assert_eq!(
            out,
            [0, 0, 0, 10, 253, 0x0a, 5, b'a', b'l', b'i', b'c', b'e', 0x12, 0]
        );
        let (code, body) = read_frame(&mut &out[..]).unwrap();
        assert_eq!((code, body.len()), (AUTH_REQ, 9));
    }

    #[test]
    fn bad_frames_are_refused() {
        assert!(read_frame(&mut &[0u8, 0, 0, 0][..]).is_err());
        assert!(read_frame(&mut &[0xffu8, 0, 0, 0, 1][..]).is_err());
        assert!(read_frame(&mut &[0u8, 0, 0, 3, 1][..]).is_err());
    }

    #[test]
    fn error_responses_are_read_and_unknown_fields_skipped() {
        let mut body = vec![0x0a, 21];
        body.extend_from_slice(b"Authentication failed");
        body.extend_from_slice(&[0x10, 0x96, 0x01, 0x18, 7]);
        assert_eq!(error_resp(&body), ("Authentication failed".into(), 150));
        assert_eq!(error_resp(&[0x0a, 50, b'x']), (String::new(), 0));
        assert_eq!(error_resp(&[]), (String::new(), 0));
    }
}
