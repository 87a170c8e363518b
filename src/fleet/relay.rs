//! While the fleet is served (the gateway), what its servers ask goes to the clients connected
//! to the gateway: an elicitation or sampling request made during a call to the client that
//! made the call, `roots/list` to that client or else to the latest connected client that has
//! roots, logs to every client that asked for them. What no such client can answer goes to the
//! fleet's own handlers, as it would without a gateway.
//!
//! A server's request carries nothing that ties it to one of its calls (2025 sessions have no
//! such field), so when clients call one server at the same time, its question goes to the
//! client of the latest call still running.
// Sampling, roots and logging are deprecated in 2026-07-28 (SEP-2577); 2025-era servers use them.
#![allow(deprecated)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rmcp::ErrorData;
use rmcp::model::{
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationAction, ListRootsResult,
    LoggingMessageNotificationParam,
};

use crate::client::callbacks::{Answer, Elicitation, LogSink, RootsSource, Sampling};
use crate::client::{ClientCallbacks, log_to_tracing};

/// Who a registered client answers for.
#[derive(Clone)]
enum Scope {
    /// A call in flight to this server.
    Call(Arc<str>),
    /// A connected client, for every server (roots outside calls, logs).
    Session,
}

struct Caller {
    id: u64,
    scope: Scope,
    callbacks: ClientCallbacks,
    /// The client takes URL-mode elicitations too (form mode is what `elicitation` means).
    url_elicitation: bool,
}

/// The clients the fleet's servers may ask, newest last.
#[derive(Default)]
pub struct Relay {
    callers: Mutex<Vec<Caller>>,
    next: AtomicU64,
    /// Gateways serving the fleet: while none is, servers connect with their own handlers only.
    attached: AtomicUsize,
}

/// Keeps a client registered; dropping it removes the client.
pub struct Registration {
    relay: Weak<Relay>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(relay) = self.relay.upgrade() {
            relay.callers.lock().unwrap_or_else(|e| e.into_inner()).retain(|c| c.id != self.id);
        }
    }
}

/// Counts one gateway as attached while it lives.
pub struct Attachment(Weak<Relay>);

impl Drop for Attachment {
    fn drop(&mut self) {
        if let Some(relay) = self.0.upgrade() {
            relay.attached.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Relay {
    pub fn attach(self: &Arc<Self>) -> Attachment {
        self.attached.fetch_add(1, Ordering::Relaxed);
        Attachment(Arc::downgrade(self))
    }

    pub fn is_attached(&self) -> bool {
        self.attached.load(Ordering::Relaxed) > 0
    }

    /// The client of a call to `server`, for as long as the call runs.
    pub fn during_call(self: &Arc<Self>, server: &str, callbacks: ClientCallbacks, url_elicitation: bool) -> Registration {
        self.register(Scope::Call(server.into()), callbacks, url_elicitation)
    }

    /// A connected client: its roots answer servers outside calls, its log sink hears every server.
    pub fn connected(self: &Arc<Self>, callbacks: ClientCallbacks) -> Registration {
        self.register(Scope::Session, callbacks, false)
    }

    fn register(self: &Arc<Self>, scope: Scope, callbacks: ClientCallbacks, url_elicitation: bool) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.callers.lock().unwrap_or_else(|e| e.into_inner()).push(Caller { id, scope, callbacks, url_elicitation });
        Registration { relay: Arc::downgrade(self), id }
    }

    /// The newest client that `pick` finds something in, among calls to `server` and then,
    /// with `sessions`, among connected clients.
    fn pick<T>(&self, server: &str, sessions: bool, pick: impl Fn(&Caller) -> Option<T>) -> Option<T> {
        let callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        let in_call = callers.iter().rev().filter(|c| matches!(&c.scope, Scope::Call(s) if &**s == server)).find_map(&pick);
        in_call.or_else(|| if sessions { callers.iter().rev().filter(|c| matches!(c.scope, Scope::Session)).find_map(&pick) } else { None })
    }

    /// `server`'s handlers while the fleet is served: the gateway's clients first, then `base`.
    pub fn wrap(self: &Arc<Self>, server: &str, base: ClientCallbacks) -> ClientCallbacks {
        let relayed = Arc::new(Relayed { relay: Arc::downgrade(self), server: server.into(), base });
        ClientCallbacks { elicitation: Some(relayed.clone()), sampling: Some(relayed.clone()), roots: Some(relayed.clone()), log: Some(relayed) }
    }
}

/// One server's handlers that ask the gateway's clients first.
struct Relayed {
    relay: Weak<Relay>,
    server: Arc<str>,
    base: ClientCallbacks,
}

impl Relayed {
    fn pick<T>(&self, sessions: bool, pick: impl Fn(&Caller) -> Option<T>) -> Option<T> {
        self.relay.upgrade()?.pick(&self.server, sessions, pick)
    }
}

fn no_handler(method: &str, lacking: &str) -> ErrorData {
    ErrorData::new(
        rmcp::model::ErrorCode::METHOD_NOT_FOUND,
        format!("{method}: neither the gateway's client nor the fleet has a {lacking}"),
        None,
    )
}

impl Elicitation for Relayed {
    fn elicit(&self, server: &Arc<str>, params: ElicitRequestParams) -> Answer<ElicitResult> {
        let url = matches!(params, ElicitRequestParams::UrlElicitationParams { .. });
        let client = self.pick(false, |c| c.callbacks.elicitation.clone().filter(|_| !url || c.url_elicitation));
        match client.or_else(|| self.base.elicitation.clone()) {
            Some(handler) => handler.elicit(server, params),
            None => {
                tracing::debug!(server = %server, "declined an elicitation: no client of the gateway and no handler of the fleet takes it");
                Box::pin(std::future::ready(Ok(ElicitResult::new(ElicitationAction::Decline))))
            }
        }
    }
}

impl Sampling for Relayed {
    fn create_message(&self, server: &Arc<str>, params: CreateMessageRequestParams) -> Answer<CreateMessageResult> {
        match self.pick(false, |c| c.callbacks.sampling.clone()).or_else(|| self.base.sampling.clone()) {
            Some(handler) => handler.create_message(server, params),
            None => Box::pin(std::future::ready(Err(no_handler("sampling/createMessage", "sampling handler")))),
        }
    }
}

impl RootsSource for Relayed {
    fn list_roots(&self, server: &Arc<str>) -> Answer<ListRootsResult> {
        match self.pick(true, |c| c.callbacks.roots.clone()).or_else(|| self.base.roots.clone()) {
            Some(handler) => handler.list_roots(server),
            None => Box::pin(std::future::ready(Err(no_handler("roots/list", "list of roots")))),
        }
    }
}

impl LogSink for Relayed {
    fn log(&self, server: &Arc<str>, params: LoggingMessageNotificationParam) {
        if let Some(relay) = self.relay.upgrade() {
            let sinks: Vec<_> = relay
                .callers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter(|c| match &c.scope {
                    Scope::Session => true,
                    Scope::Call(s) => s == server,
                })
                .filter_map(|c| c.callbacks.log.clone())
                .collect();
            for sink in sinks {
                sink.log(server, params.clone());
            }
        }
        match &self.base.log {
            Some(own) => own.log(server, params),
            None => log_to_tracing(server, &params),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::callbacks::{RootList, root};

    struct Fixed(&'static str);

    impl Elicitation for Fixed {
        fn elicit(&self, _server: &Arc<str>, _params: ElicitRequestParams) -> Answer<ElicitResult> {
            let content = serde_json::json!({"who": self.0});
            Box::pin(std::future::ready(Ok(ElicitResult::new(ElicitationAction::Accept).with_content(content))))
        }
    }

    fn asks(who: &'static str) -> ClientCallbacks {
        ClientCallbacks { elicitation: Some(Arc::new(Fixed(who))), ..Default::default() }
    }

    fn form() -> ElicitRequestParams {
        serde_json::from_value(serde_json::json!({"mode": "form", "message": "m", "requestedSchema": {"type": "object", "properties": {}}})).unwrap()
    }

    fn url() -> ElicitRequestParams {
        serde_json::from_value(serde_json::json!({"mode": "url", "message": "m", "url": "https://example.com/x", "elicitationId": "e1"})).unwrap()
    }

    async fn who(callbacks: &ClientCallbacks, params: ElicitRequestParams) -> Option<String> {
        let result = callbacks.elicitation.as_ref().unwrap().elicit(&"srv".into(), params).await.unwrap();
        result.content.map(|c| c["who"].as_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn a_servers_question_goes_to_the_latest_caller_of_that_server_then_the_fleet() {
        let relay = Arc::new(Relay::default());
        let wrapped = relay.wrap("srv", asks("fleet"));
        let declared = serde_json::to_value(wrapped.capabilities()).unwrap();
        assert!(declared["elicitation"]["url"].is_object() && declared["sampling"].is_object() && declared["roots"].is_object(), "{declared}");
        assert_eq!(who(&wrapped, form()).await.as_deref(), Some("fleet"));
        let first = relay.during_call("srv", asks("first"), false);
        let _elsewhere = relay.during_call("other", asks("elsewhere"), true);
        let second = relay.during_call("srv", asks("second"), false);
        assert_eq!(who(&wrapped, form()).await.as_deref(), Some("second"));
        // The second client takes no URL mode: the first does not either, so the fleet answers.
        assert_eq!(who(&wrapped, url()).await.as_deref(), Some("fleet"));
        drop(second);
        assert_eq!(who(&wrapped, form()).await.as_deref(), Some("first"));
        drop(first);
        assert_eq!(who(&wrapped, form()).await.as_deref(), Some("fleet"));
        let bare = relay.wrap("srv", ClientCallbacks::default());
        assert_eq!(who(&bare, form()).await, None, "declined");
        let err = bare.sampling.as_ref().unwrap().create_message(&"srv".into(), serde_json::from_value(serde_json::json!({"messages": [], "maxTokens": 5})).unwrap()).await.unwrap_err();
        assert!(err.message.contains("neither the gateway's client nor the fleet has a sampling handler"), "{err:?}");
    }

    #[tokio::test]
    async fn roots_outside_calls_come_from_the_latest_connected_client() {
        let relay = Arc::new(Relay::default());
        let wrapped = relay.wrap("srv", ClientCallbacks::default());
        let listed = |w: ClientCallbacks| async move { w.roots.as_ref().unwrap().list_roots(&"srv".into()).await.map(|r| r.roots[0].uri.clone()) };
        assert!(listed(wrapped.clone()).await.is_err());
        let with_roots = |path: &str| ClientCallbacks { roots: Some(RootList::new(vec![root(path, None).unwrap()])), ..Default::default() };
        let _a = relay.connected(with_roots("/a"));
        let b = relay.connected(with_roots("/b"));
        let _none = relay.connected(ClientCallbacks::default());
        assert_eq!(listed(wrapped.clone()).await.unwrap(), "file:///b");
        let _call = relay.during_call("srv", with_roots("/c"), false);
        assert_eq!(listed(wrapped.clone()).await.unwrap(), "file:///c");
        drop(_call);
        drop(b);
        assert_eq!(listed(wrapped).await.unwrap(), "file:///a");
    }
}
