//! An upload on its way in: written chunk by chunk to a temp file next to the
//! store (so the final move is a rename), hashed and counted as it goes, and
//! refused the moment it passes the size cap. The temp file is removed when a
//! `Spool` or `Spooled` is dropped without being stored.

use crate::{MediaError, MediaResult};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

pub struct Spool {
    file: tokio::fs::File,
    path: TempPath,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

/// A complete upload in its temp file.
pub struct Spooled {
    pub(crate) path: TempPath,
    pub sha256: String,
    pub size: u64,
}

impl Spooled {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Spool {
    /// A new temp file in `dir` for at most `limit` bytes.
    pub fn new(dir: &Path, limit: u64) -> MediaResult<Self> {
        std::fs::create_dir_all(dir)?;
        let (file, path) = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(dir)?
            .into_parts();
        Ok(Self {
            file: tokio::fs::File::from_std(file),
            path,
            hasher: Sha256::new(),
            size: 0,
            limit,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a chunk; past the limit nothing more is written and the upload
    /// is refused (the caller drops the spool, which removes the temp file).
    pub async fn write(&mut self, chunk: &[u8]) -> MediaResult<()> {
        let size = self.size + chunk.len() as u64;
        if size > self.limit {
            return Err(MediaError::TooLarge { limit: self.limit });
        }
        self.file.write_all(chunk).await?;
        self.hasher.update(chunk);
        self.size = size;
        Ok(())
    }

    pub async fn finish(mut self) -> MediaResult<Spooled> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        drop(self.file);
        let digest = self.hasher.finalize();
        Ok(Spooled {
            path: self.path,
            sha256: hex(&digest),
            size: self.size,
        })
    }
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub(crate) fn temp_dir(root: &Path) -> PathBuf {
    root.join("attachments").join("tmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_hashes_and_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(dir.path(), 10).unwrap();
        s.write(b"hello").await.unwrap();
        s.write(b"world").await.unwrap();
        let done = s.finish().await.unwrap();
        assert_eq!(done.size, 10);
        assert_eq!(
            done.sha256,
            "936a185caaa266bb9cbe981e9e05cb78cd732b0b3280eb944412bb6f8f8f07af"
        );
        assert_eq!(std::fs::read(done.path()).unwrap(), b"helloworld");

        // a stream of 1 KiB chunks against a 10 KiB cap: refused at the 11th chunk
        let mut s = Spool::new(dir.path(), 10 * 1024).unwrap();
        let chunk = [7u8; 1024];
        let mut refused_at = None;
        for i in 0..100 {
            if let Err(e) = s.write(&chunk).await {
                assert!(matches!(e, MediaError::TooLarge { limit: 10240 }));
                refused_at = Some(i);
                break;
            }
        }
        assert_eq!(refused_at, Some(10));
        assert_eq!(s.size(), 10 * 1024, "nothing past the cap was written");
        drop(s);
        drop(done);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temp files are removed on drop"
        );
    }
}
