//! Members and join requests of groups and channels, page by page.

use super::*;

/// Which members a participants iterator lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantFilter {
    /// Everyone, most recent first.
    Recent,
    /// Administrators (and the creator).
    Admins,
    /// Bots.
    Bots,
    /// Restricted members.
    Restricted,
    /// Banned users.
    Banned,
    /// Members whose name or username contains this.
    Search(String),
}

/// One member of a chat.
#[derive(Debug, Clone)]
pub struct Participant {
    /// The member's user id.
    pub user_id: i64,
    /// The user, when the server sent it.
    pub user: Option<enums::User>,
    /// A supergroup's or channel's view of the member (rights, since when...).
    pub channel: Option<enums::ChannelParticipant>,
    /// A basic group's view of the member.
    pub chat: Option<enums::ChatParticipant>,
}

fn channel_participant_user(p: &enums::ChannelParticipant) -> Option<i64> {
    use enums::ChannelParticipant as P;
    Some(match p {
        P::ChannelParticipant(x) => x.user_id,
        P::ChannelParticipantSelf(x) => x.user_id,
        P::Creator(x) => x.user_id,
        P::Admin(x) => x.user_id,
        P::Banned(x) => match &x.peer {
            enums::Peer::User(u) => u.user_id,
            _ => return None,
        },
        P::Left(x) => match &x.peer {
            enums::Peer::User(u) => u.user_id,
            _ => return None,
        },
    })
}

fn user_id_of(u: &enums::User) -> i64 {
    match u {
        enums::User::Empty(u) => u.id,
        enums::User::User(u) => u.id,
    }
}

/// Pages of a chat's members.
pub struct ParticipantPages {
    pub(super) client: Client,
    pub(super) chat: PeerRef,
    pub(super) filter: ParticipantFilter,
    pub(super) offset: i32,
    pub(super) done: bool,
}

impl Pages for ParticipantPages {
    type Item = Participant;

    async fn page(&mut self) -> Result<Option<Vec<Participant>>, InvocationError> {
        if self.done {
            return Ok(None);
        }
        let peer = self.client.resolve_peer_ref(&self.chat).await?;
        match peer {
            enums::InputPeer::Channel(c) => {
                let filter: enums::ChannelParticipantsFilter = match &self.filter {
                    ParticipantFilter::Recent => {
                        enums::ChannelParticipantsFilter::ChannelParticipantsRecent
                    }
                    ParticipantFilter::Admins => {
                        enums::ChannelParticipantsFilter::ChannelParticipantsAdmins
                    }
                    ParticipantFilter::Bots => {
                        enums::ChannelParticipantsFilter::ChannelParticipantsBots
                    }
                    ParticipantFilter::Restricted => {
                        types::ChannelParticipantsBanned { q: String::new() }.into()
                    }
                    ParticipantFilter::Banned => {
                        types::ChannelParticipantsKicked { q: String::new() }.into()
                    }
                    ParticipantFilter::Search(q) => {
                        types::ChannelParticipantsSearch { q: q.clone() }.into()
                    }
                };
                let r = self
                    .client
                    .invoke(&functions::channels::GetParticipants {
                        channel: types::InputChannel {
                            channel_id: c.channel_id,
                            access_hash: c.access_hash,
                        }
                        .into(),
                        filter,
                        offset: self.offset,
                        limit: 200,
                        hash: 0,
                    })
                    .await?;
                let enums::channels::ChannelParticipants::ChannelParticipants(r) = r else {
                    self.done = true;
                    return Ok(None);
                };
                let n = r.participants.len() as i32;
                self.offset += n;
                if n == 0 || self.offset >= r.count {
                    self.done = true;
                }
                Ok(Some(
                    r.participants
                        .into_iter()
                        .filter_map(|p| {
                            let id = channel_participant_user(&p)?;
                            Some(Participant {
                                user_id: id,
                                user: r.users.iter().find(|u| user_id_of(u) == id).cloned(),
                                channel: Some(p),
                                chat: None,
                            })
                        })
                        .collect(),
                ))
            }
            enums::InputPeer::Chat(c) => {
                self.done = true;
                let enums::messages::ChatFull::ChatFull(full) = self
                    .client
                    .invoke(&functions::messages::GetFullChat { chat_id: c.chat_id })
                    .await?;
                let enums::ChatFull::ChatFull(cf) = full.full_chat else {
                    return Ok(Some(vec![]));
                };
                let enums::ChatParticipants::ChatParticipants(ps) = cf.participants else {
                    return Ok(Some(vec![]));
                };
                let users = full.users;
                Ok(Some(
                    ps.participants
                        .into_iter()
                        .map(|p| {
                            let id = match &p {
                                enums::ChatParticipant::ChatParticipant(x) => x.user_id,
                                enums::ChatParticipant::Creator(x) => x.user_id,
                                enums::ChatParticipant::Admin(x) => x.user_id,
                            };
                            (id, p)
                        })
                        .filter(|(id, p)| {
                            let user = users.iter().find(|u| user_id_of(u) == *id);
                            match &self.filter {
                                ParticipantFilter::Recent => true,
                                ParticipantFilter::Admins => !matches!(
                                    p,
                                    enums::ChatParticipant::ChatParticipant(_)
                                ),
                                ParticipantFilter::Bots => matches!(
                                    user,
                                    Some(enums::User::User(u)) if u.bot
                                ),
                                ParticipantFilter::Restricted | ParticipantFilter::Banned => false,
                                ParticipantFilter::Search(q) => {
                                    let q = q.to_lowercase();
                                    matches!(user, Some(enums::User::User(u)) if
                                        [&u.first_name, &u.last_name, &u.username]
                                            .iter()
                                            .any(|f| f.as_deref().is_some_and(|s| s.to_lowercase().contains(&q))))
                                }
                            }
                        })
                        .map(|(id, p)| Participant {
                            user_id: id,
                            user: users.iter().find(|u| user_id_of(u) == id).cloned(),
                            channel: None,
                            chat: Some(p),
                        })
                        .collect(),
                ))
            }
            _ => Err(InvocationError::BadRequest(
                "members are listed for groups and channels only".into(),
            )),
        }
    }
}

impl Iter<ParticipantPages> {
    /// Only these members.
    pub fn filter(mut self, f: ParticipantFilter) -> Self {
        self.source().filter = f;
        self
    }
}

/// A pending request to join a chat.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Who asks.
    pub user_id: i64,
    /// When.
    pub date: i32,
    /// What they wrote.
    pub about: Option<String>,
    /// The user, when the server sent it.
    pub user: Option<enums::User>,
}

/// Pages of `messages.getChatInviteImporters` (pending join requests).
pub struct JoinRequestPages {
    pub(super) client: Client,
    pub(super) chat: PeerRef,
    pub(super) offset_date: i32,
    pub(super) offset_user: enums::InputUser,
    pub(super) done: bool,
}

impl Pages for JoinRequestPages {
    type Item = JoinRequest;

    async fn page(&mut self) -> Result<Option<Vec<JoinRequest>>, InvocationError> {
        if self.done {
            return Ok(None);
        }
        let (offset_date, offset_user) = (self.offset_date, self.offset_user.clone());
        let enums::messages::ChatInviteImporters::ChatInviteImporters(r) = self
            .client
            .with_peer_ref(&self.chat, |peer| {
                let client = self.client.clone();
                let offset_user = offset_user.clone();
                async move {
                    client
                        .invoke(&functions::messages::GetChatInviteImporters {
                            requested: true,
                            subscription_expired: false,
                            peer,
                            link: None,
                            q: None,
                            offset_date,
                            offset_user,
                            limit: PAGE,
                        })
                        .await
                }
            })
            .await?;
        if r.importers.len() < PAGE as usize {
            self.done = true;
        }
        let out: Vec<JoinRequest> = r
            .importers
            .into_iter()
            .map(|i| {
                let enums::ChatInviteImporter::ChatInviteImporter(i) = i;
                JoinRequest {
                    user_id: i.user_id,
                    date: i.date,
                    about: i.about,
                    user: r.users.iter().find(|u| user_id_of(u) == i.user_id).cloned(),
                }
            })
            .collect();
        if let Some(last) = out.last() {
            self.offset_date = last.date;
            self.offset_user = match self.client.cached_peer(last.user_id) {
                Some(p) => types::InputUser {
                    user_id: p.id,
                    access_hash: p.access_hash,
                }
                .into(),
                None => enums::InputUser::Empty,
            };
        }
        Ok(Some(out))
    }
}

impl Client {
    /// One member of a group or channel: since when, with which rights (`None`: not a
    /// member).
    ///
    /// # Errors
    /// The chat or user cannot be resolved; `CHAT_ADMIN_REQUIRED`...
    pub async fn get_participant(
        &self,
        chat: impl Into<PeerRef>,
        user: impl Into<PeerRef>,
    ) -> Result<Option<Participant>, InvocationError> {
        let chat = chat.into();
        let user = self.resolve_peer_ref(&user.into()).await?;
        match self.resolve_peer_ref(&chat).await? {
            enums::InputPeer::Channel(c) => {
                let r = self
                    .invoke(&functions::channels::GetParticipant {
                        channel: types::InputChannel {
                            channel_id: c.channel_id,
                            access_hash: c.access_hash,
                        }
                        .into(),
                        participant: user,
                    })
                    .await;
                let enums::channels::ChannelParticipant::ChannelParticipant(r) = match r {
                    Ok(r) => r,
                    Err(e) if e.is("USER_NOT_PARTICIPANT") => return Ok(None),
                    Err(e) => return Err(e),
                };
                let Some(id) = channel_participant_user(&r.participant) else {
                    return Ok(None);
                };
                Ok(Some(Participant {
                    user_id: id,
                    user: r.users.iter().find(|u| user_id_of(u) == id).cloned(),
                    channel: Some(r.participant),
                    chat: None,
                }))
            }
            enums::InputPeer::Chat(_) => {
                let id = match &user {
                    enums::InputPeer::User(u) => u.user_id,
                    enums::InputPeer::UserFromMessage(u) => u.user_id,
                    enums::InputPeer::InputPeerSelf => self.user_id().unwrap_or_default(),
                    _ => return Ok(None),
                };
                let all = self.iter_participants(chat).limit(10_000).collect().await?;
                Ok(all.into_iter().find(|p| p.user_id == id))
            }
            _ => Err(InvocationError::BadRequest(
                "members are looked up in groups and channels only".into(),
            )),
        }
    }
}
