//! Attachment bytes on local disk. Keys are random and validated before they touch a path, so
//! a client-supplied key can never name a file outside the directory.

use crate::StoreError;
use std::path::{Path, PathBuf};

/// Content types an upload may have; everything else is refused.
pub const ALLOWED_CONTENT_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
];
/// 10 MiB.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

/// `"Image/PNG; charset=x"` → `"image/png"`.
pub fn normalize_content_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Refuses a type outside [`ALLOWED_CONTENT_TYPES`] or a size over `max_bytes`. Call it with the
/// declared length before reading an upload body.
pub fn check_upload(content_type: &str, size: u64, max_bytes: u64) -> Result<(), StoreError> {
    let normalized = normalize_content_type(content_type);
    if !ALLOWED_CONTENT_TYPES.contains(&normalized.as_str()) {
        return Err(StoreError::ContentTypeNotAllowed(
            content_type.chars().take(100).collect(),
        ));
    }
    if size > max_bytes {
        return Err(StoreError::TooLarge {
            unit: "bytes",
            what: "attachment",
            size,
            limit: max_bytes,
        });
    }
    Ok(())
}

/// Refuses bytes that are not what `content_type` (normalized, allowed) says: the magic
/// number of each image format and PDF, valid UTF-8 without NUL for text. Downloads are served
/// with the declared type, so a page's script must not ride in as a "PNG".
pub fn check_content(content_type: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let matches = match content_type {
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(&[0xff, 0xd8, 0xff]),
        "image/gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "image/webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        "application/pdf" => bytes.starts_with(b"%PDF-"),
        "text/plain" => std::str::from_utf8(bytes).is_ok_and(|text| !text.contains('\0')),
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(StoreError::ContentMismatch(content_type.to_owned()))
    }
}

#[derive(Debug, Clone)]
pub struct AttachmentStore {
    dir: PathBuf,
    max_bytes: u64,
}

impl AttachmentStore {
    /// Files go directly under `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(StoreError::DataDir)?;
        Ok(Self {
            dir,
            max_bytes: DEFAULT_MAX_ATTACHMENT_BYTES,
        })
    }

    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// [`check_upload`] with this store's limit.
    pub fn check(&self, content_type: &str, size: u64) -> Result<(), StoreError> {
        check_upload(content_type, size, self.max_bytes)
    }

    /// Starts streaming an upload into the store ([`crate::Upload`]): its type and `declared`
    /// length are checked before any byte is read.
    pub async fn begin_upload(
        &self,
        content_type: &str,
        declared: Option<u64>,
    ) -> Result<crate::Upload, StoreError> {
        crate::Upload::begin(self.dir.clone(), content_type, declared, self.max_bytes).await
    }

    /// Stores the bytes durably (written, synced, then renamed into place) and returns their
    /// new random key.
    pub async fn put(&self, content_type: &str, bytes: &[u8]) -> Result<String, StoreError> {
        let mut upload = self
            .begin_upload(content_type, Some(bytes.len() as u64))
            .await?;
        upload.write(bytes).await?;
        Ok(upload.finish().await?.0)
    }

    /// The file's path, for streaming it; `NotFound` for a key this store could not have made.
    pub fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let valid = key.len() == 32
            && key
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(StoreError::NotFound);
        }
        Ok(self.dir.join(key))
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound),
            Err(e) => Err(StoreError::Io(e)),
        }
    }

    /// Keys of the stored files last written in `[since, before)` (`since: None`: any time
    /// before), for a sweep to check against the attachment rows. Leftover `.part` files (a
    /// write a crash interrupted) in that window are removed on the way.
    pub async fn files_written_between(
        &self,
        since: Option<std::time::SystemTime>,
        before: std::time::SystemTime,
    ) -> Result<Vec<String>, StoreError> {
        let dir = self.dir.clone();
        let store = self.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<Vec<String>> {
            let mut keys = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let in_window = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|at| at < before && since.is_none_or(|since| at >= since));
                if !in_window {
                    continue;
                }
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if let Some(key) = name.strip_suffix(".part") {
                    if store.path(key).is_ok() {
                        let _ = std::fs::remove_file(entry.path());
                    }
                } else if store.path(name).is_ok() {
                    keys.push(name.to_owned());
                }
            }
            Ok(keys)
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
        .map_err(StoreError::Io)
    }

    /// Removes a file; `false` if it was not there.
    pub async fn remove(&self, key: &str) -> Result<bool, StoreError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_content;

    #[test]
    fn content_must_match_the_declared_type() {
        let webp = b"RIFF\x24\x00\x00\x00WEBPVP8 ";
        let table: &[(&str, &[u8], bool)] = &[
            ("image/png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", true),
            ("image/png", b"<html><script>alert(1)</script>", false),
            ("image/png", b"\x89PNG", false),
            ("image/jpeg", b"\xff\xd8\xff\xe0\0\x10JFIF", true),
            ("image/jpeg", b"\x89PNG\r\n\x1a\n", false),
            ("image/gif", b"GIF89a\x01\0", true),
            ("image/gif", b"GIF87a", true),
            ("image/gif", b"GIF90a", false),
            ("image/webp", webp, true),
            ("image/webp", b"RIFF\x24\x00\x00\x00WAVEfmt ", false),
            ("image/webp", b"RIFF", false),
            ("application/pdf", b"%PDF-1.7\n", true),
            ("application/pdf", b"PK\x03\x04", false),
            ("text/plain", "héllo\nwörld".as_bytes(), true),
            ("text/plain", b"", true),
            ("text/plain", b"\xff\xfe", false),
            ("text/plain", b"nul\0inside", false),
            ("application/x-msdownload", b"MZ", false),
        ];
        for (content_type, bytes, ok) in table {
            assert_eq!(
                check_content(content_type, bytes).is_ok(),
                *ok,
                "{content_type} {bytes:?}"
            );
        }
    }
}
