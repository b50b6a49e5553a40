//! Script filters are the engine's filter tree ([`fleetgram_engine::dispatch::Filter`]),
//! built from Lua or Rhai (../shared/STYLE.md point 15), with the script's own function as
//! the custom leaf. The host judges every leaf it can on the update's view; a script
//! function runs on the script's thread.

use crate::event::EventData;
use serde_json::Value as Json;
use std::sync::Arc;

/// A script function used as a filter (true: handle).
pub type FilterFn = Arc<dyn Fn(&Json) -> bool + Send + Sync>;

/// The custom leaves of a script's filter.
#[derive(Clone)]
pub enum Leaf {
    /// A script function (runs on the script's thread).
    Func(FilterFn),
    /// Chats or senders named by `@username`, a t.me link or `me`: resolved by the host
    /// once the script is loaded (and again at each reload).
    Named(Arc<Named>),
}

/// Peers a filter names by reference, and the ids they resolved to.
#[derive(Debug)]
pub struct Named {
    /// Senders (`from_users`) rather than chats (`chats`).
    pub senders: bool,
    /// As written.
    pub refs: Vec<String>,
    /// The marked ids resolved so far.
    pub ids: std::sync::RwLock<std::collections::HashSet<i64>>,
}

impl Named {
    fn matches(&self, v: &fleetgram_engine::dispatch::View) -> bool {
        let id = if self.senders { v.sender_id } else { v.chat_id };
        id.is_some_and(|id| self.ids.read().expect("not poisoned").contains(&id))
    }
}

/// A script's filter: the engine's, with the script's own leaves.
pub type Filter = fleetgram_engine::dispatch::Filter<Leaf>;

/// `chats(...)` / `from_users(...)` of marked ids and references (`@name`, links, `me`);
/// numbers written as text count as ids.
pub fn peers(senders: bool, ids: Vec<i64>, refs: Vec<String>) -> Filter {
    let (mut ids, mut named) = (ids, Vec::new());
    for r in refs {
        match r.trim().parse::<i64>() {
            Ok(id) => ids.push(id),
            Err(_) => named.push(r.trim().to_string()),
        }
    }
    let by_id = match senders {
        true => Filter::FromUsers(ids.into_iter().collect()),
        false => Filter::InChats(ids.into_iter().collect()),
    };
    if named.is_empty() {
        return by_id;
    }
    let by_name = Filter::Custom(Leaf::Named(Arc::new(Named {
        senders,
        refs: named,
        ids: Default::default(),
    })));
    match &by_id {
        Filter::FromUsers(s) | Filter::InChats(s) if s.is_empty() => by_name,
        _ => by_id | by_name,
    }
}

/// The named peers of `f` (under `not` too: they must resolve all the same).
pub fn named(f: &Filter) -> Vec<Arc<Named>> {
    let mut out = Vec::new();
    fn walk(f: &Filter, out: &mut Vec<Arc<Named>>) {
        match f {
            Filter::Custom(Leaf::Named(n)) => out.push(n.clone()),
            Filter::And(a, b) | Filter::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Filter::Not(a) => walk(a, out),
            _ => {}
        }
    }
    walk(f, &mut out);
    out
}

/// A regex filter, its error as scripts see it.
///
/// # Errors
/// An invalid pattern.
pub fn regex(pattern: &str) -> Result<Filter, String> {
    regex::Regex::new(pattern)
        .map(Filter::Regex)
        .map_err(|e| format!("invalid regex {pattern:?}: {e}"))
}

/// Whether an event passes as far as the host can tell without running script code:
/// `None` when it depends on a script function (which runs on the script's thread).
/// `me`: this account's username (for `/cmd@me`). Scripts keep no conversation state in the
/// engine's sense, so a state leaf never matches.
pub fn host_verdict(f: &Filter, ev: &EventData, me: Option<&str>) -> Option<bool> {
    f.judge(&ev.view, me, &mut |leaf| match leaf {
        Filter::Custom(Leaf::Named(n)) => Some(n.matches(&ev.view)),
        Filter::State(_) => Some(false),
        _ => None,
    })
}

/// Whether an event passes (script functions see its script-visible fields).
pub fn matches(f: &Filter, ev: &EventData, me: Option<&str>) -> bool {
    f.judge(&ev.view, me, &mut |leaf| match leaf {
        Filter::Custom(Leaf::Func(func)) => Some(func(ev.fields())),
        Filter::Custom(Leaf::Named(n)) => Some(n.matches(&ev.view)),
        _ => Some(false),
    })
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetgram_engine::updates::UpdateKind;
    use serde_json::json;

    fn m(f: &Filter, ev: Json) -> bool {
        matches(
            f,
            &EventData::from_json(UpdateKind::NewMessage, ev),
            Some("echo_bot"),
        )
    }

    #[test]
    fn script_functions_see_the_fields_and_the_host_waits_for_them() {
        let ev = json!({"text": "Buy CHEAP pills", "chat_type": "supergroup", "out": false, "sender_id": 7, "chat_id": -100});
        let f = Filter::Custom(Leaf::Func(Arc::new(|e: &Json| e["sender_id"] == 7)));
        assert!(m(&f, ev.clone()));
        let spam = Filter::TextContains("cheap".into());
        assert!(m(&(spam.clone() & Filter::Group), ev.clone()));
        assert!(!m(&(spam.clone() & Filter::Private), ev.clone()));
        let e = EventData::from_json(UpdateKind::NewMessage, ev);
        assert_eq!(host_verdict(&(f.clone() & spam.clone()), &e, None), None);
        assert_eq!(
            host_verdict(&(f.clone() & Filter::Private), &e, None),
            Some(false)
        );
        assert_eq!(host_verdict(&(f | spam), &e, None), Some(true));
        assert!(regex("(").unwrap_err().contains("invalid regex"));
    }
}
