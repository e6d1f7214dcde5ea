//! The last spike events, kept for `GET /debug/rtscope/spikes` on the Prometheus exporter's
//! listener (same address, same limits as `/metrics`): `/metrics` carries how many spikes
//! there were, not what each said, and `rtscope top` shows both. At most [`KEPT`] events,
//! the oldest dropped first, so the route's answer stays small whatever happens.

use crate::model::events::LogEvent;
use crate::model::series::Value;
use crate::spike::SPIKE_EVENT;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// The route's path.
#[cfg_attr(not(feature = "export-prometheus"), allow(dead_code))]
pub(crate) const PATH: &str = "/debug/rtscope/spikes";
/// Most spike events kept.
pub(crate) const KEPT: usize = 32;

/// The last [`KEPT`] spike events, shared between the export thread's tick (which adds
/// them) and the route (which reads them); both run on the export thread.
#[derive(Clone, Debug, Default)]
pub(crate) struct RecentSpikes(Arc<Mutex<VecDeque<LogEvent>>>);

impl RecentSpikes {
    /// Keeps `event` when it is a spike event.
    pub(crate) fn push(&self, event: &LogEvent) {
        if event.name != SPIKE_EVENT {
            return;
        }
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(event.clone());
    }

    /// `{"spikes":[{"time_unix_nano":"..","kind":"..","name":"..","sentence":"..",
    /// "attributes":{..}}, ...],"kept":32}`, oldest first (64-bit integers as strings, as in
    /// OTLP/JSON).
    #[cfg_attr(not(feature = "export-prometheus"), allow(dead_code))]
    pub(crate) fn json(&self) -> Vec<u8> {
        use serde_json::{Map, Value as J, json};
        let kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let text = |e: &LogEvent, key: &str| match e.attributes.iter().find(|(k, _)| k == key) {
            Some((_, Value::Str(s))) => s.clone(),
            _ => String::new(),
        };
        let spikes: Vec<J> = kept
            .iter()
            .map(|e| {
                let attributes: Map<String, J> = e
                    .attributes
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::Str(s) => J::from(s.as_str()),
                            Value::Int(i) => J::from(i.to_string()),
                        };
                        (k.clone(), v)
                    })
                    .collect();
                json!({
                    "time_unix_nano": e.time_unix_nano.to_string(),
                    "kind": text(e, "rust.spike.kind"),
                    "name": text(e, "rust.spike.name"),
                    "sentence": e.body,
                    "attributes": attributes,
                })
            })
            .collect();
        serde_json::to_vec(&json!({ "spikes": spikes, "kept": KEPT })).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &'static str, i: u64) -> LogEvent {
        LogEvent {
            name,
            time_unix_nano: i,
            severity: 13,
            body: format!("spike {i}\nin the same \"window\""),
            attributes: vec![
                ("rust.spike.kind".into(), Value::Str("latency".into())),
                ("rust.spike.name".into(), Value::Str("request".into())),
                ("rust.spike.count".into(), Value::Int(12)),
            ],
            trace: None,
        }
    }

    #[test]
    fn the_last_spike_events_only_are_kept_and_served_as_json() {
        let recent = RecentSpikes::default();
        recent.push(&event("rust.memory.allocation.sample", 0));
        for i in 1..=(KEPT as u64 + 5) {
            recent.push(&event(SPIKE_EVENT, i));
        }
        let v: serde_json::Value = serde_json::from_slice(&recent.json()).unwrap();
        let spikes = v["spikes"].as_array().unwrap();
        assert_eq!(spikes.len(), KEPT);
        assert_eq!(spikes[0]["time_unix_nano"], "6", "the oldest were dropped");
        let last = &spikes[KEPT - 1];
        assert_eq!(last["time_unix_nano"], (KEPT as u64 + 5).to_string());
        assert_eq!(last["kind"], "latency");
        assert_eq!(last["name"], "request");
        assert_eq!(
            last["sentence"],
            format!("spike {}\nin the same \"window\"", KEPT + 5)
        );
        assert_eq!(last["attributes"]["rust.spike.count"], "12");
        assert_eq!(v["kept"], KEPT);
    }
}
