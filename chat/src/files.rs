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
            what: "attachment",
            size,
            limit: max_bytes,
        });
    }
    Ok(())
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

    /// Stores the bytes durably (written, synced, then renamed into place) and returns their
    /// new random key.
    pub async fn put(&self, content_type: &str, bytes: &[u8]) -> Result<String, StoreError> {
        self.check(content_type, bytes.len() as u64)?;
        let key = uuid::Uuid::new_v4().simple().to_string();
        let path = self.dir.join(&key);
        let temp = self.dir.join(format!("{key}.part"));
        let bytes = bytes.to_vec();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&temp)?;
            let written = file.write_all(&bytes).and_then(|()| file.sync_all());
            if let Err(e) = written.and_then(|()| std::fs::rename(&temp, &path)) {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
            // The rename is durable only once the directory entry is.
            if let Ok(dir) = std::fs::File::open(&dir) {
                let _ = dir.sync_all();
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
        Ok(key)
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

    /// Removes a file; `false` if it was not there.
    pub async fn remove(&self, key: &str) -> Result<bool, StoreError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::Io(e)),
        }
    }
}
