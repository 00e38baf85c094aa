//! Spooling inline content: small files stay in memory, larger ones go to a temporary file beside the
//! blob store (so publishing one as an LFS object is a rename). Hashes and the binary-sniff sample are
//! taken while the bytes pass, so nothing is read twice.

use super::policy::SAMPLE_LEN;
use gatehouse_types::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Spooler {
    dir: PathBuf,
    memory_limit: usize,
}

#[derive(Debug)]
pub struct Spooled {
    pub sha256: String,
    pub size: u64,
    /// The first bytes, for the binary sniff.
    pub sample: Vec<u8>,
    data: Data,
}

#[derive(Debug)]
enum Data {
    Memory(Vec<u8>),
    /// Deleted when dropped, unless published (renamed) first.
    File(tempfile::TempPath),
}

pub struct SpoolWriter<'a> {
    spooler: &'a Spooler,
    hasher: Sha256,
    size: u64,
    sample: Vec<u8>,
    memory: Vec<u8>,
    file: Option<(std::io::BufWriter<std::fs::File>, tempfile::TempPath)>,
}

impl Spooler {
    pub fn new(dir: PathBuf, memory_limit: usize) -> Self {
        Spooler { dir, memory_limit }
    }

    pub fn start(&self) -> Result<SpoolWriter<'_>> {
        Ok(SpoolWriter {
            spooler: self,
            hasher: Sha256::new(),
            size: 0,
            sample: Vec::new(),
            memory: Vec::new(),
            file: None,
        })
    }
}

impl SpoolWriter<'_> {
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        self.size += data.len() as u64;
        if self.sample.len() < SAMPLE_LEN {
            let take = (SAMPLE_LEN - self.sample.len()).min(data.len());
            self.sample.extend_from_slice(&data[..take]);
        }
        if self.file.is_none() && self.memory.len() + data.len() > self.spooler.memory_limit {
            std::fs::create_dir_all(&self.spooler.dir).map_err(Error::internal)?;
            let (file, path) =
                tempfile::NamedTempFile::new_in(&self.spooler.dir).map_err(Error::internal)?.into_parts();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            w.write_all(&self.memory).map_err(Error::internal)?;
            self.memory = Vec::new();
            self.file = Some((w, path));
        }
        match &mut self.file {
            Some((w, _)) => w.write_all(data).map_err(Error::internal),
            None => {
                self.memory.extend_from_slice(data);
                Ok(())
            }
        }
    }

    pub fn finish(self) -> Result<Spooled> {
        let data = match self.file {
            Some((w, path)) => {
                w.into_inner().map_err(|e| Error::internal(e.error()))?;
                Data::File(path)
            }
            None => Data::Memory(self.memory),
        };
        Ok(Spooled { sha256: hex::encode(self.hasher.finalize()), size: self.size, sample: self.sample, data })
    }
}

impl Spooled {
    pub fn file_path(&self) -> Option<&Path> {
        match &self.data {
            Data::File(p) => Some(p),
            Data::Memory(_) => None,
        }
    }

    /// The content as bytes; callers only do this for files small enough to live in git.
    pub fn read_all(&self) -> Result<Vec<u8>> {
        match &self.data {
            Data::Memory(m) => Ok(m.clone()),
            Data::File(p) => std::fs::read(p).map_err(Error::internal),
        }
    }

    pub fn memory(&self) -> Option<&[u8]> {
        match &self.data {
            Data::Memory(m) => Some(m),
            Data::File(_) => None,
        }
    }

    /// Hands the spool file to the caller (who must move or delete it).
    pub fn into_file(self) -> Option<tempfile::TempPath> {
        match self.data {
            Data::File(p) => Some(p),
            Data::Memory(_) => None,
        }
    }
}
