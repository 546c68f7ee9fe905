//! Recordings: camera frames saved exactly as delivered, replayable byte for byte.
//!
//! A recording is a directory: `recording.json` (the sidecar: format, size, frame list with
//! timestamps and, optionally, the expected decision) and one file per frame
//! (`frame-000001.mjpeg` / `.yuyv` / `.rgb`). [`RecordingWriter`] writes into `<dir>.partial` and
//! renames it into place on [`RecordingWriter::finish`], so a crash or a full disk never leaves a
//! directory that looks like a complete recording.

use super::{FrameSource, SourceError};
use crate::frame::{Frame, PixelFormat};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SIDECAR: &str = "recording.json";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameEntry {
    pub file: String,
    pub timestamp_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub version: u32,
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Where it came from (camera path, or the script that made it).
    #[serde(default)]
    pub source: String,
    /// For test recordings: the decision the pipeline must reach (a label, or `no_pet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// For test recordings: free text on how it was made.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub frames: Vec<FrameEntry>,
}

impl Sidecar {
    pub fn read(dir: &Path) -> Result<Sidecar, SourceError> {
        let path = dir.join(SIDECAR);
        let bytes = std::fs::read(&path).map_err(|e| SourceError::File { path: path.display().to_string(), message: format!("cannot read recording sidecar: {e}") })?;
        Self::parse(&bytes, &path)
    }

    /// Parses and checks sidecar bytes; `path` is only used in messages.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Sidecar, SourceError> {
        let err = |message: String| SourceError::File { path: path.display().to_string(), message };
        let text = std::str::from_utf8(bytes).map_err(|e| err(format!("bad recording sidecar: not UTF-8 ({e})")))?;
        let s: Sidecar = serde_json::from_str(text).map_err(|e| err(format!("bad recording sidecar: {e}")))?;
        if s.version != VERSION {
            return Err(err(format!("recording version {} (this petcam reads {VERSION})", s.version)));
        }
        if s.width == 0 || s.height == 0 || s.width > 8192 || s.height > 8192 {
            return Err(err(format!("bad frame size {}x{}", s.width, s.height)));
        }
        if s.frames.is_empty() {
            return Err(err("recording has no frames".into()));
        }
        for f in &s.frames {
            if f.file.contains('/') || f.file.contains('\\') || f.file.starts_with('.') {
                return Err(err(format!("frame file name `{}` must be a plain file name", f.file)));
            }
        }
        Ok(s)
    }
}

/// Plays a recording once (or forever with `looping`).
pub struct RecordingSource {
    dir: PathBuf,
    sidecar: Sidecar,
    next: usize,
    looping: bool,
    /// Added to timestamps on each loop so time keeps increasing.
    offset_ms: u64,
}

impl RecordingSource {
    pub fn open(dir: &Path, looping: bool) -> Result<RecordingSource, SourceError> {
        let sidecar = Sidecar::read(dir)?;
        Ok(RecordingSource { dir: dir.to_path_buf(), sidecar, next: 0, looping, offset_ms: 0 })
    }

    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }
}

impl FrameSource for RecordingSource {
    fn next_frame(&mut self) -> Result<Frame, SourceError> {
        if self.next >= self.sidecar.frames.len() {
            if !self.looping {
                return Err(SourceError::End(format!("recording {}", self.dir.display())));
            }
            self.offset_ms += self.sidecar.frames.last().map(|f| f.timestamp_ms + 1).unwrap_or(1);
            self.next = 0;
        }
        let entry = &self.sidecar.frames[self.next];
        self.next += 1;
        let path = self.dir.join(&entry.file);
        let data = std::fs::read(&path).map_err(|e| SourceError::File { path: path.display().to_string(), message: format!("cannot read frame: {e}") })?;
        Ok(Frame { format: self.sidecar.format, width: self.sidecar.width, height: self.sidecar.height, data, timestamp_ms: entry.timestamp_ms + self.offset_ms })
    }

    fn describe(&self) -> String {
        format!("recording {} ({} {}x{}, {} frames)", self.dir.display(), self.sidecar.format, self.sidecar.width, self.sidecar.height, self.sidecar.frames.len())
    }
}

/// Writes a recording atomically (see the module docs).
pub struct RecordingWriter {
    dir: PathBuf,
    partial: PathBuf,
    sidecar: Sidecar,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct WriteError {
    pub path: String,
    pub message: String,
}

fn write_err(path: &Path, e: std::io::Error) -> WriteError {
    let message = if e.raw_os_error() == Some(28) { "disk full (no space left on device)".to_string() } else { e.to_string() };
    WriteError { path: path.display().to_string(), message }
}

impl RecordingWriter {
    pub fn create(dir: &Path, format: PixelFormat, width: u32, height: u32, source: &str) -> Result<RecordingWriter, WriteError> {
        if dir.exists() {
            return Err(WriteError { path: dir.display().to_string(), message: "already exists (will not overwrite a recording)".into() });
        }
        let partial = PathBuf::from(format!("{}.partial", dir.display()));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(|e| write_err(&partial, e))?;
        }
        std::fs::create_dir_all(&partial).map_err(|e| write_err(&partial, e))?;
        let sidecar = Sidecar { version: VERSION, format, width, height, source: source.into(), expected: None, note: String::new(), frames: vec![] };
        Ok(RecordingWriter { dir: dir.to_path_buf(), partial, sidecar })
    }

    pub fn set_expected(&mut self, expected: Option<String>, note: &str) {
        self.sidecar.expected = expected;
        self.sidecar.note = note.into();
    }

    pub fn push(&mut self, frame: &Frame) -> Result<(), WriteError> {
        if frame.format != self.sidecar.format || frame.width != self.sidecar.width || frame.height != self.sidecar.height {
            return Err(WriteError {
                path: self.partial.display().to_string(),
                message: format!("frame is {} {}x{}, recording is {} {}x{}", frame.format, frame.width, frame.height, self.sidecar.format, self.sidecar.width, self.sidecar.height),
            });
        }
        let ext = match frame.format {
            PixelFormat::Mjpeg => "mjpeg",
            PixelFormat::Yuyv => "yuyv",
            PixelFormat::Rgb24 => "rgb",
        };
        let name = format!("frame-{:06}.{ext}", self.sidecar.frames.len() + 1);
        let path = self.partial.join(&name);
        std::fs::write(&path, &frame.data).map_err(|e| write_err(&path, e))?;
        self.sidecar.frames.push(FrameEntry { file: name, timestamp_ms: frame.timestamp_ms });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.sidecar.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sidecar.frames.is_empty()
    }

    /// Writes the sidecar and renames the directory into place.
    pub fn finish(self) -> Result<PathBuf, WriteError> {
        if self.sidecar.frames.is_empty() {
            return Err(WriteError { path: self.dir.display().to_string(), message: "no frames were recorded".into() });
        }
        let path = self.partial.join(SIDECAR);
        let json = serde_json::to_string_pretty(&self.sidecar).expect("sidecar serialises");
        std::fs::write(&path, json).map_err(|e| write_err(&path, e))?;
        std::fs::rename(&self.partial, &self.dir).map_err(|e| write_err(&self.dir, e))?;
        Ok(self.dir.clone())
    }
}

impl Drop for RecordingWriter {
    /// A recording that was not finished (an error, a full disk) is removed, freeing its space:
    /// only complete recordings ever exist under their name.
    fn drop(&mut self) {
        if self.partial.exists() {
            let _ = std::fs::remove_dir_all(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("petcam-rec-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn write_then_replay_byte_for_byte() {
        let dir = tmp("rt");
        let mut w = RecordingWriter::create(&dir, PixelFormat::Yuyv, 4, 2, "test").unwrap();
        let frames: Vec<Frame> = (0..3).map(|i| Frame { format: PixelFormat::Yuyv, width: 4, height: 2, data: vec![i as u8; 16], timestamp_ms: i * 33 }).collect();
        for f in &frames {
            w.push(f).unwrap();
        }
        assert!(!dir.exists(), "a recording must not appear before finish");
        w.finish().unwrap();
        let mut src = RecordingSource::open(&dir, false).unwrap();
        for f in &frames {
            assert_eq!(&src.next_frame().unwrap(), f);
        }
        assert!(src.next_frame().unwrap_err().is_end());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_sidecars_name_the_file() {
        let dir = tmp("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let e = RecordingSource::open(&dir, false).err().unwrap().to_string();
        assert!(e.contains("recording.json") && e.contains("cannot read"), "{e}");
        std::fs::write(dir.join(SIDECAR), "{\"version\": 1, \"format\": \"yuyv\"").unwrap();
        let e = RecordingSource::open(&dir, false).err().unwrap().to_string();
        assert!(e.contains("bad recording sidecar"), "{e}");
        std::fs::write(dir.join(SIDECAR), r#"{"version":1,"format":"yuyv","width":4,"height":2,"frames":[{"file":"../etc/passwd","timestamp_ms":0}]}"#).unwrap();
        let e = RecordingSource::open(&dir, false).err().unwrap().to_string();
        assert!(e.contains("plain file name"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_frame_file_is_an_error_not_a_panic() {
        let dir = tmp("missing");
        let mut w = RecordingWriter::create(&dir, PixelFormat::Rgb24, 1, 1, "t").unwrap();
        w.push(&Frame { format: PixelFormat::Rgb24, width: 1, height: 1, data: vec![1, 2, 3], timestamp_ms: 0 }).unwrap();
        w.finish().unwrap();
        std::fs::remove_file(dir.join("frame-000001.rgb")).unwrap();
        let mut src = RecordingSource::open(&dir, false).unwrap();
        let e = src.next_frame().unwrap_err().to_string();
        assert!(e.contains("frame-000001.rgb") && e.contains("cannot read frame"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_abandoned_recording_leaves_nothing() {
        let dir = tmp("abandoned");
        let partial = PathBuf::from(format!("{}.partial", dir.display()));
        let mut w = RecordingWriter::create(&dir, PixelFormat::Rgb24, 1, 1, "t").unwrap();
        w.push(&Frame { format: PixelFormat::Rgb24, width: 1, height: 1, data: vec![1, 2, 3], timestamp_ms: 0 }).unwrap();
        assert!(partial.is_dir());
        drop(w);
        assert!(!partial.exists() && !dir.exists());
    }
}
