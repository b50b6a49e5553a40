//! Script filters are the engine's filter tree ([`fleetgram_engine::dispatch::Filter`]),
//! built from Lua or Rhai (../shared/STYLE.md point 15), with the script's own function as
//! the custom leaf. The host judges every leaf it can on the update's view; a script
//! function runs on the script's thread.

use crate::event::EventData;
use serde_json::Value as Json;
use std::sync::Arc;

/// A script function used as a filter (true: handle).
pub type FilterFn = Arc<dyn Fn(&Json) -> bool + Send + Sync>;

/// A script's filter: the engine's, a script function as the custom leaf.
pub type Filter = fleetgram_engine::dispatch::Filter<FilterFn>;

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
        Filter::State(_) => Some(false),
        _ => None,
    })
}

/// Whether an event passes (script functions see its script-visible fields).
pub fn matches(f: &Filter, ev: &EventData, me: Option<&str>) -> bool {
    f.judge(&ev.view, me, &mut |leaf| match leaf {
        Filter::Custom(func) => Some(func(ev.fields())),
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
        let f = Filter::Custom(Arc::new(|e: &Json| e["sender_id"] == 7));
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
