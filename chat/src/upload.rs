//! An upload streamed to disk: the size limit and the content check apply chunk by chunk, so an
//! attachment never sits whole in memory and an oversized or mislabelled one stops at the first
//! chunk that gives it away.

use crate::files::{check_content, check_upload, normalize_content_type};
use crate::StoreError;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// Checks bytes against a declared content type as they arrive: the magic number once enough
/// bytes are in, valid UTF-8 without NUL for text (sequences may straddle chunks).
#[derive(Debug)]
pub struct ContentSniffer {
    content_type: String,
    /// The first bytes, until the magic number can be judged.
    head: Vec<u8>,
    head_checked: bool,
    /// Text: the start of a UTF-8 sequence the previous chunk cut (at most 3 bytes).
    carry: Vec<u8>,
}

/// Enough for every magic number [`check_content`] knows (WebP's is 12 bytes).
const MAGIC_BYTES: usize = 12;

impl ContentSniffer {
    pub fn new(content_type: &str) -> Self {
        Self {
            content_type: normalize_content_type(content_type),
            head: Vec::new(),
            head_checked: false,
            carry: Vec::new(),
        }
    }

    fn mismatch(&self) -> StoreError {
        StoreError::ContentMismatch(self.content_type.clone())
    }

    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        if self.content_type == "text/plain" {
            return self.feed_text(chunk);
        }
        if !self.head_checked {
            let wanted = MAGIC_BYTES.saturating_sub(self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..wanted]);
            if self.head.len() >= MAGIC_BYTES {
                check_content(&self.content_type, &self.head)?;
                self.head_checked = true;
            }
        }
        Ok(())
    }

    fn feed_text(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        if bytes.contains(&0) {
            return Err(self.mismatch());
        }
        match std::str::from_utf8(&bytes) {
            Ok(_) => Ok(()),
            // Cut mid-sequence at the end: keep the start for the next chunk.
            Err(err) if err.error_len().is_none() => {
                self.carry = bytes[err.valid_up_to()..].to_vec();
                Ok(())
            }
            Err(_) => Err(self.mismatch()),
        }
    }

    /// The whole upload was fed: a short file is judged now, a cut sequence is an error.
    pub fn finish(&self) -> Result<(), StoreError> {
        if self.content_type == "text/plain" {
            return if self.carry.is_empty() {
                Ok(())
            } else {
                Err(self.mismatch())
            };
        }
        if self.head_checked {
            Ok(())
        } else {
            check_content(&self.content_type, &self.head)
        }
    }
}

/// An upload being written under a fresh key; dropped unfinished, its partial file goes.
pub struct Upload {
    key: String,
    dir: PathBuf,
    file: Option<tokio::fs::File>,
    written: u64,
    max_bytes: u64,
    sniffer: ContentSniffer,
}

impl Upload {
    /// Starts an upload of `content_type` into `dir`; a `declared` length over `max_bytes` is
    /// refused before any byte is read.
    pub(crate) async fn begin(
        dir: PathBuf,
        content_type: &str,
        declared: Option<u64>,
        max_bytes: u64,
    ) -> Result<Self, StoreError> {
        check_upload(content_type, declared.unwrap_or(0), max_bytes)?;
        let key = uuid::Uuid::new_v4().simple().to_string();
        let file = tokio::fs::File::create(dir.join(format!("{key}.part")))
            .await
            .map_err(StoreError::Io)?;
        Ok(Self {
            key,
            dir,
            file: Some(file),
            written: 0,
            max_bytes,
            sniffer: ContentSniffer::new(content_type),
        })
    }

    fn temp(&self) -> PathBuf {
        self.dir.join(format!("{}.part", self.key))
    }

    /// Bytes so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.written += chunk.len() as u64;
        if self.written > self.max_bytes {
            return Err(StoreError::TooLarge {
                unit: "bytes",
                what: "attachment",
                size: self.written,
                limit: self.max_bytes,
            });
        }
        self.sniffer.feed(chunk)?;
        let file = self.file.as_mut().ok_or(StoreError::NotFound)?;
        file.write_all(chunk).await.map_err(StoreError::Io)
    }

    /// Checks the content once more as a whole, makes the file durable (synced, renamed into
    /// place, directory synced) and returns its key and size.
    pub async fn finish(mut self) -> Result<(String, u64), StoreError> {
        self.sniffer.finish()?;
        let file = self.file.take().ok_or(StoreError::NotFound)?;
        file.sync_all().await.map_err(StoreError::Io)?;
        drop(file);
        let path = self.dir.join(&self.key);
        tokio::fs::rename(self.temp(), &path)
            .await
            .map_err(StoreError::Io)?;
        if let Ok(dir) = tokio::fs::File::open(&self.dir).await {
            let _ = dir.sync_all().await;
        }
        let key = std::mem::take(&mut self.key);
        Ok((key, self.written))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Unfinished (refused, failed or abandoned mid-body): no partial file stays.
        if !self.key.is_empty() {
            let _ = std::fs::remove_file(self.temp());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContentSniffer;

    /// Feeds `bytes` cut at every position into two chunks: the verdict never depends on the cut.
    fn verdict(content_type: &str, bytes: &[u8]) -> bool {
        let whole = {
            let mut s = ContentSniffer::new(content_type);
            s.feed(bytes).and_then(|()| s.finish()).is_ok()
        };
        for cut in 0..=bytes.len() {
            let mut s = ContentSniffer::new(content_type);
            let split = s
                .feed(&bytes[..cut])
                .and_then(|()| s.feed(&bytes[cut..]))
                .and_then(|()| s.finish())
                .is_ok();
            assert_eq!(split, whole, "{content_type} cut at {cut}");
        }
        whole
    }

    #[test]
    fn streamed_content_is_judged_like_whole_content() {
        let webp = b"RIFF\x24\x00\x00\x00WEBPVP8 ";
        #[rustfmt::skip]
        let table: &[(&str, &[u8], bool)] = &[
            ("image/png",  b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", true),
            ("image/png",  b"<html><script>alert(1)</script>", false),
            ("image/png",  b"\x89PNG", false),
            ("image/webp", webp, true),
            ("image/gif",  b"GIF89a", true),
            ("text/plain", "héllo wörld ✓".as_bytes(), true),
            ("text/plain", b"", true),
            ("text/plain", b"cut \xe2\x9c", false),
            ("text/plain", b"\xff\xfe", false),
            ("text/plain", b"nul\0inside", false),
        ];
        for (content_type, bytes, ok) in table {
            assert_eq!(
                verdict(content_type, bytes),
                *ok,
                "{content_type} {bytes:?}"
            );
        }
    }
}
