//! Export pipeline (stand-in until the real exporter lands; the lead replaces this file).

use std::time::Duration;

/// Handle to the background export thread.
#[derive(Debug)]
pub(crate) struct Exporter {
    #[allow(dead_code)]
    config: crate::config::Config,
}

impl Exporter {
    /// Spawns the export thread. Never fails or panics.
    pub(crate) fn start(config: crate::config::Config) -> Exporter {
        Exporter { config }
    }

    /// Final collection and flush; returns within `timeout`.
    pub(crate) fn shutdown(self, timeout: Duration) {
        let _ = timeout;
    }
}
