//! Files: `upload.saveFilePart` / `saveBigFilePart` with Telegram's part rules,
//! `messages.uploadMedia` and `messages.sendMedia` (photos, documents with attributes),
//! `upload.getFile` with its offset/limit rules, `FILE_MIGRATE_X` for files kept on another
//! DC, and file references that expire (`FILE_REFERENCE_EXPIRED`; fetching the message again
//! gives a fresh one).
//!
//! A file lives on the home DC of the account that uploaded it. A file reference is 12
//! bytes: the time it was issued and a keyed hash of (file, time).

use super::{now, ok, Ctx, RpcErr, RpcResult};
use crate::state::{State, StoredFile, Upload};
use fleetgram_tl::{enums, functions, types};
use sha2::Digest;
use std::sync::Arc;

/// Largest part: 512 KiB.
const MAX_PART: usize = 512 * 1024;
/// Most parts of one file.
const MAX_PARTS: i32 = 4000;
/// Largest file uploaded with `saveFilePart` (bigger ones use `saveBigFilePart`).
const SMALL_LIMIT: usize = 10 * 1024 * 1024;
/// The size type of a document's thumbnail.
const THUMB_TYPE: &str = "m";
/// Uploads untouched this long are forgotten.
const UPLOAD_TTL: i32 = 3600;

/// The logged-in user on any DC (files are uploaded to and fetched from any DC).
fn user_any_dc(ctx: &Ctx<'_>) -> Result<i64, RpcErr> {
    let state = ctx.shared.state.lock().expect("not poisoned");
    state
        .user_of(ctx.perm_key_id)
        .filter(|u| state.users.contains_key(u))
        .ok_or_else(|| RpcErr::new(401, "AUTH_KEY_UNREGISTERED"))
}

fn save_part(
    ctx: &Ctx<'_>,
    file_id: i64,
    part: i32,
    total: Option<i32>,
    bytes: Vec<u8>,
) -> RpcResult {
    let me = user_any_dc(ctx)?;
    if bytes.is_empty() {
        return Err(RpcErr::bad_request("FILE_PART_EMPTY"));
    }
    if bytes.len() > MAX_PART {
        return Err(RpcErr::bad_request("FILE_PART_TOO_BIG"));
    }
    if let Some(t) = total {
        if !(1..=MAX_PARTS).contains(&t) {
            return Err(RpcErr::bad_request("FILE_PARTS_INVALID"));
        }
    }
    if part < 0 || part >= total.unwrap_or(MAX_PARTS) {
        return Err(RpcErr::bad_request("FILE_PART_INVALID"));
    }
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let now = now();
    state.uploads.retain(|_, u| now - u.touched < UPLOAD_TTL);
    let u = state
        .uploads
        .entry((me, file_id))
        .or_insert_with(|| Upload {
            big: total.is_some(),
            total,
            ..Upload::default()
        });
    if u.big != total.is_some() || (total.is_some() && u.total != total) {
        return Err(RpcErr::bad_request("FILE_PARTS_INVALID"));
    }
    // Every part but the last has the same size, which divides 512 KiB and is a multiple of
    // 1 KiB; which part is the last is only known at the end, so a short part is allowed
    // once and checked against the others.
    let full = bytes.len() % 1024 == 0 && MAX_PART % bytes.len() == 0;
    match u.part_size {
        None if full => u.part_size = Some(bytes.len()),
        Some(size) if bytes.len() > size => {
            return Err(RpcErr::bad_request("FILE_PART_SIZE_CHANGED"))
        }
        _ => {}
    }
    if !full && u.part_size.is_none() && part + 1 != u.total.unwrap_or(part + 1) && part != 0 {
        return Err(RpcErr::bad_request("FILE_PART_SIZE_INVALID"));
    }
    if !u.big && u.bytes + bytes.len() > SMALL_LIMIT {
        return Err(RpcErr::bad_request("FILE_PART_TOO_BIG"));
    }
    if let Some(old) = u.parts.insert(part, bytes) {
        u.bytes -= old.len();
    }
    u.bytes += u.parts[&part].len();
    u.touched = now;
    ok(true)
}

/// `upload.saveFilePart`.
pub(crate) fn save_file_part(ctx: &Ctx<'_>, req: functions::upload::SaveFilePart) -> RpcResult {
    save_part(ctx, req.file_id, req.file_part, None, req.bytes)
}

/// `upload.saveBigFilePart`.
pub(crate) fn save_big_file_part(
    ctx: &Ctx<'_>,
    req: functions::upload::SaveBigFilePart,
) -> RpcResult {
    save_part(
        ctx,
        req.file_id,
        req.file_part,
        Some(req.file_total_parts),
        req.bytes,
    )
}

/// The uploaded bytes an `InputFile` names (the upload is used up).
fn take_upload(
    state: &mut State,
    me: i64,
    file: &enums::InputFile,
) -> Result<(Vec<u8>, String), RpcErr> {
    let (id, parts, name, big) = match file {
        enums::InputFile::InputFile(f) => (f.id, f.parts, f.name.clone(), false),
        enums::InputFile::Big(f) => (f.id, f.parts, f.name.clone(), true),
        _ => return Err(RpcErr::bad_request("MEDIA_INVALID")),
    };
    let u = state
        .uploads
        .get(&(me, id))
        .ok_or_else(|| RpcErr::bad_request("FILE_PARTS_INVALID"))?;
    if u.big != big || parts <= 0 || u.total.is_some_and(|t| t != parts) {
        return Err(RpcErr::bad_request("FILE_PARTS_INVALID"));
    }
    if let Some(missing) = (0..parts).find(|p| !u.parts.contains_key(p)) {
        return Err(RpcErr::bad_request(format!("FILE_PART_{missing}_MISSING")));
    }
    if u.parts.keys().any(|p| *p >= parts) {
        return Err(RpcErr::bad_request("FILE_PARTS_INVALID"));
    }
    let size = u.part_size;
    let last = parts - 1;
    if u.parts
        .iter()
        .any(|(p, b)| *p != last && size.is_some_and(|s| b.len() != s))
    {
        return Err(RpcErr::bad_request("FILE_PART_SIZE_INVALID"));
    }
    let u = state.uploads.remove(&(me, id)).expect("checked");
    let mut data = Vec::with_capacity(u.bytes);
    for (_, b) in u.parts {
        data.extend_from_slice(&b);
    }
    Ok((data, name))
}

impl State {
    /// A fresh file reference for file `id`.
    pub fn file_ref(&self, id: i64) -> Vec<u8> {
        self.file_ref_at(id, now())
    }

    fn file_ref_at(&self, id: i64, at: i32) -> Vec<u8> {
        let h = sha2::Sha256::new()
            .chain_update(self.secret)
            .chain_update(b"file-ref")
            .chain_update(id.to_le_bytes())
            .chain_update(at.to_le_bytes())
            .finalize();
        let mut r = at.to_le_bytes().to_vec();
        r.extend_from_slice(&h[..8]);
        r
    }

    /// Checks a file reference: `FILE_REFERENCE_EXPIRED` once it is older than the TTL,
    /// `FILE_REFERENCE_INVALID` if it was not made for this file.
    pub fn check_file_ref(&self, id: i64, r: &[u8]) -> Result<(), RpcErr> {
        let at = r
            .get(..4)
            .map(|b| i32::from_le_bytes(b.try_into().expect("4")))
            .ok_or_else(|| RpcErr::bad_request("FILE_REFERENCE_INVALID"))?;
        if r.len() != 12 || self.file_ref_at(id, at) != r {
            return Err(RpcErr::bad_request("FILE_REFERENCE_INVALID"));
        }
        if now() - at > self.file_ref_ttl {
            return Err(RpcErr::bad_request("FILE_REFERENCE_EXPIRED"));
        }
        Ok(())
    }

    /// The access hash of file `id` (the same for everyone who sees it).
    fn file_hash(&self, id: i64) -> i64 {
        self.access_hash(0, id ^ 0x0f11_e000_0000_0000)
    }

    /// The `MessageMedia` of file `id`, with a fresh reference.
    pub fn media_tl(&self, id: i64) -> Option<enums::MessageMedia> {
        let f = self.files.get(&id)?;
        let r = self.file_ref(id);
        Some(if f.photo {
            types::MessageMediaPhoto {
                spoiler: false,
                live_photo: false,
                photo: Some(
                    types::Photo {
                        has_stickers: false,
                        id,
                        access_hash: self.file_hash(id),
                        file_reference: r,
                        date: f.date,
                        sizes: vec![types::PhotoSize {
                            r#type: "x".into(),
                            w: 0,
                            h: 0,
                            size: f.data.len() as i32,
                        }
                        .into()],
                        video_sizes: None,
                        dc_id: f.dc,
                    }
                    .into(),
                ),
                ttl_seconds: None,
                video: None,
            }
            .into()
        } else {
            let voice = f
                .attributes
                .iter()
                .any(|a| matches!(a, enums::DocumentAttribute::Audio(x) if x.voice));
            types::MessageMediaDocument {
                nopremium: false,
                spoiler: false,
                video: f
                    .attributes
                    .iter()
                    .any(|a| matches!(a, enums::DocumentAttribute::Video(_))),
                round: false,
                voice,
                document: Some(
                    types::Document {
                        id,
                        access_hash: self.file_hash(id),
                        file_reference: r,
                        date: f.date,
                        mime_type: f.mime.clone(),
                        size: f.data.len() as i64,
                        thumbs: f.thumb.as_ref().map(|t| {
                            vec![types::PhotoSize {
                                r#type: THUMB_TYPE.into(),
                                w: 320,
                                h: 320,
                                size: t.len() as i32,
                            }
                            .into()]
                        }),
                        video_thumbs: None,
                        dc_id: f.dc,
                        attributes: f.attributes.clone(),
                    }
                    .into(),
                ),
                alt_documents: None,
                video_cover: None,
                video_timestamp: None,
                ttl_seconds: None,
            }
            .into()
        })
    }

    /// Gives the file references of a message's media fresh values, and a poll its current
    /// results as `viewer` sees them.
    pub fn refresh_media(&self, m: &mut enums::Message, viewer: i64) {
        if let enums::Message::Message(m) = m {
            // The reactions as they are now.
            let key = match &m.peer_id {
                enums::Peer::Channel(c) => Some((crate::state::channel_box(c.channel_id), m.id)),
                enums::Peer::Chat(_) => self
                    .boxes
                    .get(&viewer)
                    .and_then(|b| b.messages.get(&m.id))
                    .and_then(|s| s.chat)
                    .map(|(chat, gid)| (-chat, gid as i32)),
                enums::Peer::User(u) => {
                    let stored = self.boxes.get(&viewer).and_then(|b| b.messages.get(&m.id));
                    match stored {
                        Some(s) if s.out => Some((viewer, m.id)),
                        Some(s) => Some((u.user_id, s.twin.unwrap_or(m.id))),
                        None => None,
                    }
                }
            };
            if let Some(by) = key
                .and_then(|k| self.reactions.get(&k))
                .filter(|b| !b.is_empty())
            {
                m.reactions = Some(super::react::reactions_tl(by, viewer));
            }
            if let Some(enums::MessageMedia::Poll(p)) = &m.media {
                let enums::Poll::Poll(poll) = &p.poll;
                if let Some(media) = super::react::poll_media(self, poll.id, viewer) {
                    m.media = Some(media);
                }
                return;
            }
            let id = match &m.media {
                Some(enums::MessageMedia::Photo(p)) => match &p.photo {
                    Some(enums::Photo::Photo(p)) => Some(p.id),
                    _ => None,
                },
                Some(enums::MessageMedia::Document(d)) => match &d.document {
                    Some(enums::Document::Document(d)) => Some(d.id),
                    _ => None,
                },
                _ => None,
            };
            if let Some(media) = id.and_then(|id| self.media_tl(id)) {
                m.media = Some(media);
            }
        }
    }

    /// Stores a new file uploaded by `me`; returns its id.
    fn new_file(
        &mut self,
        me: i64,
        photo: bool,
        mime: String,
        attributes: Vec<enums::DocumentAttribute>,
        data: Vec<u8>,
        thumb: Option<Vec<u8>>,
    ) -> i64 {
        let id: i64 = rand::Rng::gen::<i64>(&mut self.rng).abs().max(1);
        let dc = self.users.get(&me).map_or(1, |u| u.home_dc);
        let f = StoredFile {
            photo,
            dc,
            date: now(),
            mime,
            attributes,
            data: Arc::new(data),
            thumb: thumb.map(Arc::new),
        };
        if let Some(store) = &self.store {
            store.put_file(id, &f);
        }
        self.files.insert(id, f);
        id
    }
}

/// The `MessageMedia` for an `InputMedia` (uploading new files as needed).
pub(crate) fn resolve_media(
    state: &mut State,
    me: i64,
    media: &enums::InputMedia,
) -> Result<enums::MessageMedia, RpcErr> {
    use enums::InputMedia as M;
    let id = match media {
        M::UploadedPhoto(p) => {
            let (data, _) = take_upload(state, me, &p.file)?;
            if data.is_empty() {
                return Err(RpcErr::bad_request("PHOTO_INVALID"));
            }
            state.new_file(me, true, "image/jpeg".into(), vec![], data, None)
        }
        M::UploadedDocument(d) => {
            let (data, name) = take_upload(state, me, &d.file)?;
            let thumb = match &d.thumb {
                Some(t) => Some(take_upload(state, me, t)?.0).filter(|t| !t.is_empty()),
                None => None,
            };
            let mut attributes = d.attributes.clone();
            if !attributes
                .iter()
                .any(|a| matches!(a, enums::DocumentAttribute::Filename(_)))
                && !name.is_empty()
            {
                attributes.push(types::DocumentAttributeFilename { file_name: name }.into());
            }
            let mime = if d.mime_type.is_empty() {
                "application/octet-stream".to_string()
            } else {
                d.mime_type.clone()
            };
            state.new_file(me, false, mime, attributes, data, thumb)
        }
        M::Photo(p) => {
            let enums::InputPhoto::InputPhoto(p) = &p.id else {
                return Err(RpcErr::bad_request("MEDIA_EMPTY"));
            };
            existing(state, p.id, p.access_hash, &p.file_reference, true)?
        }
        M::Document(d) => {
            let enums::InputDocument::InputDocument(d) = &d.id else {
                return Err(RpcErr::bad_request("MEDIA_EMPTY"));
            };
            existing(state, d.id, d.access_hash, &d.file_reference, false)?
        }
        M::Poll(p) => return super::react::new_poll(state, me, p),
        M::Empty => return Err(RpcErr::bad_request("MEDIA_EMPTY")),
        _ => return Err(RpcErr::bad_request("MEDIA_INVALID")),
    };
    state
        .media_tl(id)
        .ok_or_else(|| RpcErr::bad_request("MEDIA_INVALID"))
}

fn existing(state: &State, id: i64, hash: i64, r: &[u8], photo: bool) -> Result<i64, RpcErr> {
    match state.files.get(&id) {
        Some(f) if f.photo == photo && state.file_hash(id) == hash => {
            state.check_file_ref(id, r)?;
            Ok(id)
        }
        _ => Err(RpcErr::bad_request("MEDIA_INVALID")),
    }
}

/// `messages.uploadMedia`: the media, without sending it.
pub(crate) fn upload_media(ctx: &Ctx<'_>, req: functions::messages::UploadMedia) -> RpcResult {
    let me = super::require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let media = resolve_media(&mut state, me, &req.media)?;
    ok(media)
}

/// `upload.getFile` with Telegram's rules: `offset` and `limit` multiples of 4 KiB,
/// `1 MiB % limit == 0`, one request within one 1 MiB block (`precise`: multiples of 1 KiB,
/// up to 1 MiB); `FILE_MIGRATE_X` when the file is on another DC.
pub(crate) fn get_file(ctx: &Ctx<'_>, req: functions::upload::GetFile) -> RpcResult {
    let _me = user_any_dc(ctx)?;
    let (id, hash, r, photo, thumb) = match &req.location {
        enums::InputFileLocation::InputDocumentFileLocation(l) => (
            l.id,
            l.access_hash,
            l.file_reference.clone(),
            false,
            !l.thumb_size.is_empty(),
        ),
        enums::InputFileLocation::InputPhotoFileLocation(l) => {
            (l.id, l.access_hash, l.file_reference.clone(), true, false)
        }
        _ => return Err(RpcErr::bad_request("LOCATION_INVALID")),
    };
    const MIB: i64 = 1024 * 1024;
    let limit = i64::from(req.limit);
    if req.precise {
        if limit <= 0 || limit % 1024 != 0 || limit > MIB {
            return Err(RpcErr::bad_request("LIMIT_INVALID"));
        }
        if req.offset < 0 || req.offset % 1024 != 0 {
            return Err(RpcErr::bad_request("OFFSET_INVALID"));
        }
    } else {
        if limit <= 0 || limit % 4096 != 0 || MIB % limit != 0 {
            return Err(RpcErr::bad_request("LIMIT_INVALID"));
        }
        if req.offset < 0
            || req.offset % 4096 != 0
            || req.offset / MIB != (req.offset + limit - 1) / MIB
        {
            return Err(RpcErr::bad_request("OFFSET_INVALID"));
        }
    }
    let state = ctx.shared.state.lock().expect("not poisoned");
    let f = match state.files.get(&id) {
        Some(f) if f.photo == photo && state.file_hash(id) == hash => f,
        _ => return Err(RpcErr::bad_request("FILE_ID_INVALID")),
    };
    state.check_file_ref(id, &r)?;
    if f.dc != ctx.dc {
        return Err(RpcErr::new(303, format!("FILE_MIGRATE_{}", f.dc)));
    }
    let data = match (thumb, &f.thumb) {
        (false, _) => &f.data,
        (true, Some(t)) => t,
        (true, None) => return Err(RpcErr::bad_request("LOCATION_INVALID")),
    };
    let start = (req.offset as usize).min(data.len());
    let end = (start + limit as usize).min(data.len());
    let file_type: enums::storage::FileType = if photo {
        enums::storage::FileType::FileJpeg
    } else {
        enums::storage::FileType::FilePartial
    };
    ok(enums::upload::File::from(types::upload::File {
        r#type: file_type,
        mtime: f.date,
        bytes: data[start..end].to_vec(),
    }))
}

/// `messages.sendMedia`: a photo or document with a caption.
pub(crate) fn send_media(ctx: &Ctx<'_>, req: functions::messages::SendMedia) -> RpcResult {
    let me = super::require_user(ctx)?;
    if req.message.chars().count() > 1024 {
        return Err(RpcErr::bad_request("MEDIA_CAPTION_TOO_LONG"));
    }
    let media = {
        let mut state = ctx.shared.state.lock().expect("not poisoned");
        resolve_media(&mut state, me, &req.media)?
    };
    let send = functions::messages::SendMessage {
        peer: req.peer,
        reply_to: req.reply_to,
        message: req.message,
        random_id: req.random_id,
        reply_markup: req.reply_markup,
        entities: req.entities,
        schedule_date: req.schedule_date,
        silent: req.silent,
        ..super::messages::send_defaults()
    };
    super::messages::send_with_media(ctx, send, Some(media))
}

/// A stored photo as a `Photo`.
fn photo_tl(state: &State, id: i64) -> Option<enums::Photo> {
    match state.media_tl(id)? {
        enums::MessageMedia::Photo(p) => p.photo,
        _ => None,
    }
}

/// `photos.uploadProfilePhoto`: a new profile photo (first in the list).
pub(crate) fn upload_profile_photo(
    ctx: &Ctx<'_>,
    req: functions::photos::UploadProfilePhoto,
) -> RpcResult {
    let me = super::require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let Some(file) = &req.file else {
        return Err(RpcErr::bad_request("PHOTO_FILE_MISSING"));
    };
    let (data, _) = take_upload(&mut state, me, file)?;
    if data.is_empty() {
        return Err(RpcErr::bad_request("PHOTO_INVALID"));
    }
    let id = state.new_file(me, true, "image/jpeg".into(), vec![], data, None);
    state.profile_photos.entry(me).or_default().insert(0, id);
    let list = state.profile_photos[&me].clone();
    if let Some(store) = &state.store {
        store.put_profile_photos(me, &list);
    }
    state.mark_user(me);
    let photo = photo_tl(&state, id).ok_or_else(|| RpcErr::bad_request("PHOTO_INVALID"))?;
    ok(enums::photos::Photo::from(types::photos::Photo {
        photo,
        users: vec![state.user_tl(me, me, now())],
    }))
}

/// `photos.getUserPhotos`: a user's profile photos, newest first, from `offset`.
pub(crate) fn get_user_photos(ctx: &Ctx<'_>, req: functions::photos::GetUserPhotos) -> RpcResult {
    let me = super::require_user(ctx)?;
    let state = ctx.shared.state.lock().expect("not poisoned");
    let user = super::channels::user_from_input(&state, me, &req.user_id)?;
    let all = state.profile_photos.get(&user).cloned().unwrap_or_default();
    let mut list: Vec<i64> = all.clone();
    if req.max_id > 0 {
        if let Some(i) = list.iter().position(|p| *p == req.max_id) {
            list.drain(..=i);
        }
    }
    let offset = usize::try_from(req.offset).unwrap_or(0);
    let limit = req.limit.clamp(1, 100) as usize;
    let page: Vec<enums::Photo> = list
        .iter()
        .skip(offset)
        .take(limit)
        .filter_map(|id| photo_tl(&state, *id))
        .collect();
    let users = vec![state.user_tl(me, user, now())];
    if page.len() < all.len() {
        return ok(enums::photos::Photos::from(types::photos::PhotosSlice {
            count: all.len() as i32,
            photos: page,
            users,
        }));
    }
    ok(enums::photos::Photos::from(types::photos::Photos {
        photos: page,
        users,
    }))
}

/// `photos.deletePhotos`: removes some of one's own profile photos; the ids removed.
pub(crate) fn delete_photos(ctx: &Ctx<'_>, req: functions::photos::DeletePhotos) -> RpcResult {
    let me = super::require_user(ctx)?;
    let mut state = ctx.shared.state.lock().expect("not poisoned");
    let mut removed = Vec::new();
    for p in &req.id {
        let enums::InputPhoto::InputPhoto(p) = p else {
            continue;
        };
        let list = state.profile_photos.entry(me).or_default();
        if let Some(i) = list.iter().position(|x| *x == p.id) {
            list.remove(i);
            removed.push(p.id);
        }
    }
    let list = state.profile_photos.get(&me).cloned().unwrap_or_default();
    if let Some(store) = &state.store {
        store.put_profile_photos(me, &list);
    }
    ok(removed)
}
