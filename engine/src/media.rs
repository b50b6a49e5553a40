//! Files: concurrent chunked upload and download, media to send, progress.
//!
//! Uploads go in 512 KiB parts (`upload.saveFilePart`; `saveBigFilePart` above 10 MiB),
//! several in flight at once; downloads fetch 1 MiB parts in parallel from the DC the file
//! lives on (`FILE_MIGRATE_X` is followed by the call policy). An expired file reference
//! (`FILE_REFERENCE_EXPIRED`) is refreshed by fetching the message again. A file on a CDN is
//! refused with a clear error (this client does not ask for CDN redirects, so the server
//! does not send one).
//!
//! ```no_run
//! # async fn f(client: fleetgram_engine::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use fleetgram_engine::media::{Document, Transfer};
//! use fleetgram_engine::messages::InputMessage;
//! let t = Transfer::default().progress(|done, total| println!("{done}/{total}"));
//! let file = client.upload_path("song.mp3".as_ref(), &t).await?;
//! let media = Document::new(file, "audio/mpeg").audio(215, Some("Title"), Some("Artist")).into();
//! client.send_message("@someone", InputMessage::text("listen").media(media)).await?;
//! # Ok(()) }
//! ```

use crate::client::Client;
use crate::error::InvocationError;
use fleetgram_tl::{enums, functions, types};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Upload part size: 512 KiB (Telegram's largest).
const PART: usize = 512 * 1024;
/// Download part size: 1 MiB (Telegram's largest `limit`).
const DOWNLOAD_PART: usize = 1024 * 1024;
/// Files above this size are uploaded with `saveBigFilePart`.
const BIG: usize = 10 * 1024 * 1024;
/// Most parts of one upload.
const MAX_PARTS: usize = 4000;

/// A progress callback: `(bytes done, bytes in total)`.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How a transfer runs: parts in flight at once and a progress callback.
#[derive(Clone)]
pub struct Transfer {
    /// Parts in flight at once (at least 1).
    pub parallel: usize,
    /// Called after each part.
    pub progress: Option<Progress>,
}

impl Default for Transfer {
    fn default() -> Self {
        Self {
            parallel: 8,
            progress: None,
        }
    }
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("parallel", &self.parallel)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl Transfer {
    /// With `n` parts in flight.
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallel = n.max(1);
        self
    }

    /// With a progress callback.
    pub fn progress(mut self, f: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
}

/// A message's downloadable media: where it is and how big.
#[derive(Debug, Clone)]
pub struct FileRef {
    /// The location for `upload.getFile`.
    pub location: enums::InputFileLocation,
    /// Its size in bytes.
    pub size: i64,
    /// A file name, when the document has one.
    pub name: Option<String>,
    /// The DC it is kept on.
    pub dc: i32,
    /// The message it came from (marked chat id, message id): fetched again to refresh an
    /// expired file reference.
    pub origin: Option<(i64, i32)>,
}

fn origin_of(m: &types::Message) -> Option<(i64, i32)> {
    Some((crate::messages::peer_id(&m.peer_id), m.id))
}

/// The downloadable media of `m`, if it has a photo or a document.
pub fn file_of(m: &enums::Message) -> Option<FileRef> {
    let enums::Message::Message(m) = m else {
        return None;
    };
    match m.media.as_ref()? {
        enums::MessageMedia::Document(d) => {
            let enums::Document::Document(d) = d.document.as_ref()? else {
                return None;
            };
            let name = d.attributes.iter().find_map(|a| match a {
                enums::DocumentAttribute::Filename(f) => Some(f.file_name.clone()),
                _ => None,
            });
            Some(FileRef {
                location: types::InputDocumentFileLocation {
                    id: d.id,
                    access_hash: d.access_hash,
                    file_reference: d.file_reference.clone(),
                    thumb_size: String::new(),
                }
                .into(),
                size: d.size,
                name,
                dc: d.dc_id,
                origin: origin_of(m),
            })
        }
        enums::MessageMedia::Photo(p) => {
            let enums::Photo::Photo(p) = p.photo.as_ref()? else {
                return None;
            };
            let (size, kind) = p
                .sizes
                .iter()
                .filter_map(|s| match s {
                    enums::PhotoSize::PhotoSize(s) => Some((i64::from(s.size), s.r#type.clone())),
                    enums::PhotoSize::Progressive(s) => {
                        Some((i64::from(*s.sizes.iter().max()?), s.r#type.clone()))
                    }
                    _ => None,
                })
                .max_by_key(|(n, _)| *n)?;
            Some(FileRef {
                location: types::InputPhotoFileLocation {
                    id: p.id,
                    access_hash: p.access_hash,
                    file_reference: p.file_reference.clone(),
                    thumb_size: kind,
                }
                .into(),
                size,
                name: None,
                dc: p.dc_id,
                origin: origin_of(m),
            })
        }
        _ => None,
    }
}

/// The thumbnail of a message's document, if it has one.
pub fn thumb_of(m: &enums::Message) -> Option<FileRef> {
    let enums::Message::Message(msg) = m else {
        return None;
    };
    let enums::MessageMedia::Document(d) = msg.media.as_ref()? else {
        return None;
    };
    let enums::Document::Document(d) = d.document.as_ref()? else {
        return None;
    };
    let (size, kind) = d
        .thumbs
        .as_ref()?
        .iter()
        .filter_map(|s| match s {
            enums::PhotoSize::PhotoSize(s) => Some((i64::from(s.size), s.r#type.clone())),
            _ => None,
        })
        .max_by_key(|(n, _)| *n)?;
    Some(FileRef {
        location: types::InputDocumentFileLocation {
            id: d.id,
            access_hash: d.access_hash,
            file_reference: d.file_reference.clone(),
            thumb_size: kind,
        }
        .into(),
        size,
        name: None,
        dc: d.dc_id,
        origin: origin_of(msg),
    })
}

/// A photo to send, from an uploaded file.
pub fn photo(file: enums::InputFile) -> enums::InputMedia {
    types::InputMediaUploadedPhoto {
        spoiler: false,
        live_photo: false,
        file,
        stickers: None,
        ttl_seconds: None,
        video: None,
    }
    .into()
}

/// A document to send (a file, audio, voice note, video, sticker), from an uploaded file.
#[derive(Debug, Clone)]
pub struct Document(types::InputMediaUploadedDocument);

impl Document {
    /// A file of MIME type `mime` (sent as a file unless attributes say otherwise).
    pub fn new(file: enums::InputFile, mime: &str) -> Self {
        Self(types::InputMediaUploadedDocument {
            nosound_video: false,
            force_file: false,
            spoiler: false,
            file,
            thumb: None,
            mime_type: mime.into(),
            attributes: vec![],
            stickers: None,
            video_cover: None,
            video_timestamp: None,
            ttl_seconds: None,
        })
    }

    fn attr(mut self, a: enums::DocumentAttribute) -> Self {
        self.0.attributes.push(a);
        self
    }

    /// With this file name.
    pub fn name(self, name: &str) -> Self {
        self.attr(
            types::DocumentAttributeFilename {
                file_name: name.into(),
            }
            .into(),
        )
    }

    /// A song of `duration` seconds.
    pub fn audio(self, duration: i32, title: Option<&str>, performer: Option<&str>) -> Self {
        self.attr(
            types::DocumentAttributeAudio {
                voice: false,
                duration,
                title: title.map(str::to_string),
                performer: performer.map(str::to_string),
                waveform: None,
            }
            .into(),
        )
    }

    /// A voice note of `duration` seconds.
    pub fn voice(self, duration: i32) -> Self {
        self.attr(
            types::DocumentAttributeAudio {
                voice: true,
                duration,
                title: None,
                performer: None,
                waveform: None,
            }
            .into(),
        )
    }

    /// A video of `duration` seconds, `w`×`h` (`round`: a video message).
    pub fn video(self, duration: f64, w: i32, h: i32, round: bool) -> Self {
        self.attr(
            types::DocumentAttributeVideo {
                round_message: round,
                supports_streaming: true,
                nosound: false,
                duration,
                w,
                h,
                preload_prefix_size: None,
                video_start_ts: None,
                video_codec: None,
            }
            .into(),
        )
    }

    /// A sticker standing for emoji `alt`.
    pub fn sticker(self, alt: &str) -> Self {
        self.attr(
            types::DocumentAttributeSticker {
                mask: false,
                alt: alt.into(),
                stickerset: enums::InputStickerSet::Empty,
                mask_coords: None,
            }
            .into(),
        )
    }

    /// Sent as a plain file even if it could be shown as media.
    pub fn force_file(mut self) -> Self {
        self.0.force_file = true;
        self
    }

    /// With a thumbnail (an uploaded JPEG of at most 320×320).
    pub fn thumb(mut self, thumb: enums::InputFile) -> Self {
        self.0.thumb = Some(thumb);
        self
    }
}

impl From<Document> for enums::InputMedia {
    fn from(d: Document) -> Self {
        d.0.into()
    }
}

/// Where an upload's parts come from.
enum Source {
    Memory(Arc<[u8]>),
    File(Arc<std::fs::File>),
}

impl Source {
    /// Part `i` of a source of `len` bytes.
    async fn part(&self, i: usize, len: usize) -> Result<Vec<u8>, InvocationError> {
        let start = i * PART;
        let end = (start + PART).min(len);
        match self {
            Self::Memory(d) => Ok(d[start..end].to_vec()),
            Self::File(f) => {
                let f = f.clone();
                tokio::task::spawn_blocking(move || {
                    use std::os::unix::fs::FileExt;
                    let mut buf = vec![0u8; end - start];
                    f.read_exact_at(&mut buf, start as u64).map(|()| buf)
                })
                .await
                .map_err(|e| InvocationError::BadRequest(format!("reading the file: {e}")))?
                .map_err(|e| InvocationError::BadRequest(format!("reading the file: {e}")))
            }
        }
    }
}

impl Client {
    /// Uploads `data` as a file named `name` (parts in parallel); the `InputFile` to send it
    /// with.
    ///
    /// # Errors
    /// A part was refused; the file is bigger than Telegram allows (4000 parts, 2000 MiB).
    pub async fn upload_bytes(
        &self,
        data: &[u8],
        name: &str,
    ) -> Result<enums::InputFile, InvocationError> {
        self.upload_with(data, name, &Transfer::default()).await
    }

    /// Uploads `data` as a file named `name`, as `t` says.
    ///
    /// # Errors
    /// As [`Client::upload_bytes`].
    pub async fn upload_with(
        &self,
        data: &[u8],
        name: &str,
        t: &Transfer,
    ) -> Result<enums::InputFile, InvocationError> {
        self.upload_source(Source::Memory(Arc::from(data)), data.len(), name, t)
            .await
    }

    /// Uploads the file at `path` (read part by part, never whole in memory).
    ///
    /// # Errors
    /// The file cannot be read; as [`Client::upload_bytes`].
    pub async fn upload_path(
        &self,
        path: &std::path::Path,
        t: &Transfer,
    ) -> Result<enums::InputFile, InvocationError> {
        let f = std::fs::File::open(path).map_err(|e| {
            InvocationError::BadRequest(format!("cannot read {}: {e}", path.display()))
        })?;
        let len = f
            .metadata()
            .map_err(|e| InvocationError::BadRequest(format!("{}: {e}", path.display())))?
            .len() as usize;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.upload_source(Source::File(Arc::new(f)), len, &name, t)
            .await
    }

    async fn upload_source(
        &self,
        src: Source,
        len: usize,
        name: &str,
        t: &Transfer,
    ) -> Result<enums::InputFile, InvocationError> {
        let parts = len.div_ceil(PART).max(1);
        if parts > MAX_PARTS {
            return Err(InvocationError::BadRequest(format!(
                "{name}: {len} bytes is more than Telegram accepts ({} bytes)",
                MAX_PARTS * PART
            )));
        }
        let id: i64 = rand::random();
        let big = len > BIG;
        let src = Arc::new(src);
        let done = Arc::new(AtomicU64::new(0));
        let total = len as u64;
        let mut set = tokio::task::JoinSet::new();
        for i in 0..parts {
            while set.len() >= t.parallel.max(1) {
                set.join_next()
                    .await
                    .expect("not empty")
                    .map_err(|e| InvocationError::BadRequest(format!("upload task: {e}")))??;
            }
            let (client, src, done, progress) =
                (self.clone(), src.clone(), done.clone(), t.progress.clone());
            set.spawn(async move {
                let bytes = src.part(i, len).await?;
                let n = bytes.len() as u64;
                if big {
                    client
                        .invoke(&functions::upload::SaveBigFilePart {
                            file_id: id,
                            file_part: i as i32,
                            file_total_parts: parts as i32,
                            bytes,
                        })
                        .await?;
                } else {
                    client
                        .invoke(&functions::upload::SaveFilePart {
                            file_id: id,
                            file_part: i as i32,
                            bytes,
                        })
                        .await?;
                }
                let now = done.fetch_add(n, Ordering::Relaxed) + n;
                if let Some(p) = progress {
                    p(now, total);
                }
                Ok::<(), InvocationError>(())
            });
        }
        while let Some(r) = set.join_next().await {
            r.map_err(|e| InvocationError::BadRequest(format!("upload task: {e}")))??;
        }
        Ok(if big {
            types::InputFileBig {
                id,
                parts: parts as i32,
                name: name.into(),
            }
            .into()
        } else {
            types::InputFile {
                id,
                parts: parts as i32,
                name: name.into(),
                md5_checksum: String::new(),
            }
            .into()
        })
    }

    /// Downloads a file whole (parts in parallel).
    ///
    /// # Errors
    /// A part was refused; the file is on a CDN.
    pub async fn download_file(&self, file: &FileRef) -> Result<Vec<u8>, InvocationError> {
        self.download_with(file, &Transfer::default()).await
    }

    /// Downloads a file whole, as `t` says.
    ///
    /// # Errors
    /// As [`Client::download_file`].
    pub async fn download_with(
        &self,
        file: &FileRef,
        t: &Transfer,
    ) -> Result<Vec<u8>, InvocationError> {
        let mut out = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
        self.download_into(file, t, |offset, bytes| {
            if out.len() < offset + bytes.len() {
                out.resize(offset + bytes.len(), 0);
            }
            out[offset..offset + bytes.len()].copy_from_slice(&bytes);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Downloads a file into `path`; its size.
    ///
    /// # Errors
    /// The file cannot be written; as [`Client::download_file`].
    pub async fn download_to_path(
        &self,
        file: &FileRef,
        path: &std::path::Path,
        t: &Transfer,
    ) -> Result<u64, InvocationError> {
        use std::os::unix::fs::FileExt;
        let io = |e: std::io::Error| {
            InvocationError::BadRequest(format!("cannot write {}: {e}", path.display()))
        };
        let f = std::fs::File::create(path).map_err(io)?;
        let mut size = 0u64;
        self.download_into(file, t, |offset, bytes| {
            f.write_all_at(&bytes, offset as u64).map_err(io)?;
            size = size.max((offset + bytes.len()) as u64);
            Ok(())
        })
        .await?;
        f.set_len(size).map_err(io)?;
        Ok(size)
    }

    /// Fetches every part of `file`, handing each to `sink(offset, bytes)` as it arrives.
    async fn download_into(
        &self,
        file: &FileRef,
        t: &Transfer,
        mut sink: impl FnMut(usize, Vec<u8>) -> Result<(), InvocationError>,
    ) -> Result<(), InvocationError> {
        let location = Arc::new(tokio::sync::Mutex::new((file.location.clone(), 0u32)));
        let total = u64::try_from(file.size).unwrap_or(0);
        let done = Arc::new(AtomicU64::new(0));
        // With a known size the parts are known; otherwise fetch until a short part.
        let known = total > 0;
        let parts = if known {
            (total as usize).div_ceil(DOWNLOAD_PART)
        } else {
            usize::MAX
        };
        let parallel = if known { t.parallel.max(1) } else { 1 };
        let mut set = tokio::task::JoinSet::new();
        let mut next = 0usize;
        let mut finished = false;
        loop {
            while !finished && next < parts && set.len() < parallel {
                let (client, location, origin, dc) =
                    (self.clone(), location.clone(), file.origin, file.dc);
                let i = next;
                next += 1;
                set.spawn(async move {
                    let bytes = client.fetch_part(&location, origin, dc, i).await?;
                    Ok::<_, InvocationError>((i, bytes))
                });
            }
            let Some(r) = set.join_next().await else {
                break;
            };
            let (i, bytes) =
                r.map_err(|e| InvocationError::BadRequest(format!("download task: {e}")))??;
            let n = bytes.len();
            if !known && n < DOWNLOAD_PART {
                finished = true;
            }
            let now = done.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            sink(i * DOWNLOAD_PART, bytes)?;
            if let Some(p) = &t.progress {
                p(now, total.max(now));
            }
        }
        Ok(())
    }

    /// Part `i` of a file, from its DC, refreshing an expired file reference (once per
    /// generation of the location) through the message it came from.
    async fn fetch_part(
        &self,
        location: &tokio::sync::Mutex<(enums::InputFileLocation, u32)>,
        origin: Option<(i64, i32)>,
        dc: i32,
        i: usize,
    ) -> Result<Vec<u8>, InvocationError> {
        let mut refreshed = false;
        loop {
            let (loc, generation) = location.lock().await.clone();
            let req = functions::upload::GetFile {
                precise: false,
                cdn_supported: false,
                location: loc,
                offset: (i * DOWNLOAD_PART) as i64,
                limit: DOWNLOAD_PART as i32,
            };
            let r = if dc == 0 || dc == self.home_dc() {
                self.invoke(&req).await
            } else {
                self.invoke_on_dc(dc, &req).await
            };
            match r {
                Ok(enums::upload::File::File(f)) => return Ok(f.bytes),
                Ok(enums::upload::File::CdnRedirect(_)) => {
                    return Err(InvocationError::BadRequest(
                        "the file is on a CDN, which this client does not download from".into(),
                    ))
                }
                Err(e) if e.is("FILE_REFERENCE_EXPIRED") && !refreshed => {
                    refreshed = true;
                    let Some((chat, msg)) = origin else {
                        return Err(e);
                    };
                    let mut guard = location.lock().await;
                    if guard.1 == generation {
                        // Not refreshed by another part meanwhile: fetch the message again.
                        let fresh = self.get_messages(chat, &[msg]).await?;
                        let f = fresh.first().and_then(|m| file_of(&m.raw)).ok_or(e)?;
                        let thumb = match &guard.0 {
                            enums::InputFileLocation::InputDocumentFileLocation(l) => {
                                l.thumb_size.clone()
                            }
                            _ => String::new(),
                        };
                        let mut loc = f.location;
                        if let enums::InputFileLocation::InputDocumentFileLocation(l) = &mut loc {
                            l.thumb_size = thumb;
                        }
                        *guard = (loc, generation + 1);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}
