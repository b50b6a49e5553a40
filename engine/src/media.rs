//! Files, the simple way: upload bytes in 512 KiB parts (`saveBigFilePart` above 10 MiB) and
//! download a message's photo or document in 512 KiB chunks (a file on another DC is
//! fetched there: the call policy follows `FILE_MIGRATE_X`). Parts go one after another;
//! parallel parts and progress come with the client API.

use crate::client::Client;
use crate::error::InvocationError;
use fleetgram_tl::{enums, functions, types};

const PART: usize = 512 * 1024;
const BIG: usize = 10 * 1024 * 1024;

/// A message's downloadable media: where it is and how big.
#[derive(Debug, Clone)]
pub struct FileRef {
    /// The location for `upload.getFile`.
    pub location: enums::InputFileLocation,
    /// Its size in bytes.
    pub size: i64,
    /// A file name, when the document has one.
    pub name: Option<String>,
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
            })
        }
        _ => None,
    }
}

impl Client {
    /// Uploads `data` as a file named `name`; the `InputFile` to send it with.
    ///
    /// # Errors
    /// A part was refused.
    pub async fn upload_bytes(
        &self,
        data: &[u8],
        name: &str,
    ) -> Result<enums::InputFile, InvocationError> {
        let id: i64 = rand::random();
        let big = data.len() > BIG;
        let parts = data.len().div_ceil(PART).max(1) as i32;
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[][..]]
        } else {
            data.chunks(PART).collect()
        };
        for (i, chunk) in chunks.into_iter().enumerate() {
            if big {
                self.invoke(&functions::upload::SaveBigFilePart {
                    file_id: id,
                    file_part: i as i32,
                    file_total_parts: parts,
                    bytes: chunk.to_vec(),
                })
                .await?;
            } else {
                self.invoke(&functions::upload::SaveFilePart {
                    file_id: id,
                    file_part: i as i32,
                    bytes: chunk.to_vec(),
                })
                .await?;
            }
        }
        Ok(if big {
            types::InputFileBig {
                id,
                parts,
                name: name.into(),
            }
            .into()
        } else {
            types::InputFile {
                id,
                parts,
                name: name.into(),
                md5_checksum: String::new(),
            }
            .into()
        })
    }

    /// Downloads a file whole.
    ///
    /// # Errors
    /// A chunk was refused (`FILE_REFERENCE_EXPIRED`: fetch the message again).
    pub async fn download_file(&self, file: &FileRef) -> Result<Vec<u8>, InvocationError> {
        let mut out = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
        let mut offset = 0i64;
        loop {
            let r = self
                .invoke(&functions::upload::GetFile {
                    precise: false,
                    cdn_supported: false,
                    location: file.location.clone(),
                    offset,
                    limit: PART as i32,
                })
                .await?;
            let enums::upload::File::File(f) = r else {
                return Err(InvocationError::BadRequest(
                    "the file is on a CDN; CDN downloads are not supported".into(),
                ));
            };
            let n = f.bytes.len();
            out.extend_from_slice(&f.bytes);
            if n < PART {
                break;
            }
            offset += PART as i64;
        }
        Ok(out)
    }
}
