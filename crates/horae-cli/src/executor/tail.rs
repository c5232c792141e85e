//! Keeping only the end of a stream: a command's output or an HTTP response body.

use std::collections::VecDeque;

use tokio::io::{AsyncRead, AsyncReadExt};

/// How much of each output stream (stdout, stderr, a response body) a result keeps: the
/// last 64 KiB.
pub(crate) const MAX_OUTPUT: usize = 64 * 1024;

/// The last `capacity` bytes written to it (a ring buffer: memory stays bounded however
/// much is written).
#[derive(Debug)]
pub(crate) struct Tail {
    bytes: VecDeque<u8>,
    capacity: usize,
    total: u64,
}

impl Tail {
    /// An empty tail keeping at most `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Tail {
        Tail {
            bytes: VecDeque::with_capacity(capacity.min(8192)),
            capacity,
            total: 0,
        }
    }

    /// Appends `chunk`, dropping the oldest bytes beyond the capacity.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.total = self.total.saturating_add(chunk.len() as u64);
        let chunk = &chunk[chunk.len().saturating_sub(self.capacity)..];
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.bytes.extend(chunk);
    }

    /// How many bytes were written in all.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The kept bytes as text (invalid UTF-8 replaced); when the start was cut off, a
    /// character cut in half there is dropped.
    pub(crate) fn text(&self) -> String {
        let (front, back) = self.bytes.as_slices();
        let mut bytes = Vec::with_capacity(self.bytes.len());
        bytes.extend_from_slice(front);
        bytes.extend_from_slice(back);
        let skip = if self.total > self.bytes.len() as u64 {
            bytes
                .iter()
                .take(3)
                .take_while(|b| (**b & 0b1100_0000) == 0b1000_0000)
                .count()
        } else {
            0
        };
        String::from_utf8_lossy(&bytes[skip..]).into_owned()
    }

    /// At most the last `max` bytes of [`Tail::text`] (cut at a character boundary).
    pub(crate) fn text_tail(&self, max: usize) -> String {
        let text = self.text();
        let mut start = text.len().saturating_sub(max);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_owned()
    }
}

/// Reads `reader` to its end into `tail`. A read error ends the reading (what was read is
/// kept).
pub(crate) async fn read_into<R: AsyncRead + Unpin>(reader: Option<R>, tail: &mut Tail) {
    let Some(mut reader) = reader else { return };
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => tail.push(&buffer[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_last_bytes() {
        let mut tail = Tail::new(8);
        tail.push(b"hello ");
        assert_eq!(tail.text(), "hello ");
        tail.push(b"world");
        assert_eq!(tail.text(), "lo world");
        tail.push(b"0123456789abc");
        assert_eq!(tail.text(), "56789abc");
        assert_eq!(tail.total(), 24);
        tail.push(b"");
        assert_eq!(tail.text(), "56789abc");
    }

    #[test]
    fn a_character_cut_at_the_start_is_dropped() {
        let mut tail = Tail::new(4);
        tail.push("aé€".as_bytes()); // 1 + 2 + 3 bytes: the last 4 are é's second byte and €
        assert_eq!(tail.text(), "€");
        let mut whole = Tail::new(16);
        whole.push("é".as_bytes());
        assert_eq!(whole.text(), "é");
        assert_eq!(whole.text_tail(1), "");
        assert_eq!(whole.text_tail(2), "é");
    }

    #[tokio::test]
    async fn reads_a_stream_to_its_end() {
        let data = vec![b'x'; 100_000];
        let mut tail = Tail::new(MAX_OUTPUT);
        read_into(Some(&data[..]), &mut tail).await;
        assert_eq!(tail.total(), 100_000);
        assert_eq!(tail.text().len(), MAX_OUTPUT);
    }
}
