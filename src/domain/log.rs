//! Log lines and the compact form they are stored in: a chunk is a run of lines, each written
//! as (varint seconds since the step started, varint byte length, the bytes). Storing raw bytes
//! keeps a 500 MB log at about 500 MB, and reading needs no parsing of JSON.

use serde::Serialize;

/// One line of a step's output, as Drone's logs API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// 0-based line number within the step.
    pub pos: i64,
    /// The text, with its trailing newline when it had one.
    pub out: String,
    /// Seconds since the step started.
    pub time: i64,
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut n: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// Appends one line (`time` seconds after the step started) to a chunk being built.
pub fn encode_line(chunk: &mut Vec<u8>, time: u64, bytes: &[u8]) {
    put_varint(chunk, time);
    put_varint(chunk, bytes.len() as u64);
    chunk.extend_from_slice(bytes);
}

/// Walks the lines of a stored chunk: `(time, bytes)` each. Stops at the first malformed byte
/// (a chunk is written only by `encode_line`, so that means a damaged row).
pub fn decode_lines(chunk: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= chunk.len() {
            return None;
        }
        let time = get_varint(chunk, &mut at)?;
        let len = usize::try_from(get_varint(chunk, &mut at)?).ok()?;
        let end = at.checked_add(len).filter(|e| *e <= chunk.len())?;
        let bytes = &chunk[at..end];
        at = end;
        Some((time, bytes))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_as_they_were_written() {
        let mut chunk = Vec::new();
        encode_line(&mut chunk, 0, b"hello\n");
        encode_line(&mut chunk, 300, b"");
        encode_line(&mut chunk, 7, &[0xff, 0xfe, b'\n']);
        let lines: Vec<_> = decode_lines(&chunk).collect();
        assert_eq!(
            lines,
            vec![
                (0, &b"hello\n"[..]),
                (300, &b""[..]),
                (7, &[0xff, 0xfe, b'\n'][..])
            ]
        );
    }

    #[test]
    fn a_truncated_chunk_stops_instead_of_panicking() {
        let mut chunk = Vec::new();
        encode_line(&mut chunk, 1, b"abcdef");
        chunk.truncate(4);
        assert_eq!(decode_lines(&chunk).count(), 0);
    }
}
