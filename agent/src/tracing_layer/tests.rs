use super::*;
use tracing_subscriber::layer::SubscriberExt;

/// Records the `alloc.bytes` values it sees.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<i64>>>);

impl Visit for Seen {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == ALLOC_BYTES_FIELD {
            self.0.lock().unwrap().push(value);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for Seen {
    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        values.record(&mut self.clone());
    }
}

fn name() -> Option<&'static str> {
    Scope::current().map(|s| s.name())
}

/// The ids tracing-opentelemetry gives `span`, as rtscope keeps them.
#[cfg(feature = "tracing-opentelemetry")]
fn otel_ids(span: &tracing::Span) -> Option<scope::Trace> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let sc = span.context().span().span_context().clone();
    Some((sc.trace_id().to_bytes(), sc.span_id().to_bytes()))
}

/// Whichever of the two layers comes first, a span's samples carry its own ids: rtscope's
/// layer asks tracing-opentelemetry for them instead of the current context (which,
/// with rtscope's layer first, is still the parent's when it sees the span entered).
#[test]
#[cfg(feature = "tracing-opentelemetry")]
fn a_span_carries_its_own_opentelemetry_ids_in_either_layer_order() {
    use opentelemetry::trace::TracerProvider as _;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let check = |subscriber: Box<dyn Subscriber + Send + Sync>| {
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request");
            let _r = request.enter();
            assert_eq!(
                crate::base::attribution::current_trace(),
                otel_ids(&request)
            );
            let parse = tracing::info_span!("parse");
            parse.in_scope(|| {
                assert_eq!(crate::base::attribution::current_trace(), otel_ids(&parse))
            });
            assert_ne!(otel_ids(&request), otel_ids(&parse));
            assert_eq!(
                crate::base::attribution::current_trace(),
                otel_ids(&request)
            );
        });
        assert_eq!(crate::base::attribution::current_trace(), None);
    };
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("t"));
    check(Box::new(
        tracing_subscriber::registry()
            .with(RtscopeLayer::new())
            .with(otel),
    ));
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("t"));
    check(Box::new(
        tracing_subscriber::registry()
            .with(otel)
            .with(RtscopeLayer::new()),
    ));
}

/// The spans an SDK tracer ended, kept for the test.
#[cfg(feature = "tracing-opentelemetry")]
#[derive(Clone, Debug, Default)]
struct Ended(Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

#[cfg(feature = "tracing-opentelemetry")]
impl opentelemetry_sdk::trace::SpanExporter for Ended {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// With rtscope's layer first, its `alloc.bytes` reaches the OpenTelemetry span
/// tracing-opentelemetry exports, beside the span's own ids on the samples.
#[test]
#[cfg(feature = "tracing-opentelemetry")]
fn alloc_bytes_reaches_the_exported_opentelemetry_span() {
    use opentelemetry::trace::TracerProvider as _;
    let ended = Ended::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(ended.clone())
        .build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("t"));
    let sub = tracing_subscriber::registry()
        .with(RtscopeLayer::new())
        .with(otel);
    ::tracing::subscriber::with_default(sub, || {
        let span = ::tracing::info_span!("handle", alloc.bytes = ::tracing::field::Empty);
        span.in_scope(|| crate::base::attribution::on_sample(4096));
    });
    let ended = ended.0.lock().unwrap();
    let handle = ended
        .iter()
        .find(|s| s.name == "handle")
        .expect("the span ended");
    let bytes = handle
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == ALLOC_BYTES_FIELD);
    assert_eq!(
        bytes.map(|kv| kv.value.clone()),
        Some(opentelemetry::Value::I64(4096)),
        "{:?}",
        handle.attributes
    );
}

#[test]
fn spans_are_scopes_and_restore() {
    let sub = tracing_subscriber::registry().with(RtscopeLayer::new());
    ::tracing::subscriber::with_default(sub, || {
        crate::scope("outside", || {
            let a = ::tracing::info_span!("layer-a");
            let b = ::tracing::info_span!("layer-b");
            a.in_scope(|| {
                assert_eq!(name(), Some("layer-a"));
                crate::scope("inner", || {
                    b.in_scope(|| assert_eq!(name(), Some("layer-b")));
                    assert_eq!(name(), Some("inner"));
                });
                assert_eq!(name(), Some("layer-a"));
            });
            assert_eq!(name(), Some("outside"));
            // Out of order: enter a, enter b, exit a, exit b.
            let ga = a.clone().entered();
            let gb = b.clone().entered();
            assert_eq!(name(), Some("layer-b"));
            drop(ga);
            assert_eq!(name(), Some("layer-b"));
            drop(gb);
            assert_eq!(name(), Some("outside"));
        });
    });
}

#[test]
fn samples_credit_the_span_and_close_records_the_field() {
    let seen = Seen::default();
    let sub = tracing_subscriber::registry()
        .with(RtscopeLayer::new())
        .with(seen.clone());
    ::tracing::subscriber::with_default(sub, || {
        let span = ::tracing::info_span!("layer-bytes", alloc.bytes = ::tracing::field::Empty);
        span.in_scope(|| {
            crate::base::attribution::on_sample(100);
            let inner = ::tracing::info_span!("layer-inner");
            inner.in_scope(|| crate::base::attribution::on_sample(7));
            assert_eq!(current_span_bytes(), Some(100));
            crate::base::attribution::on_sample(20);
        });
        assert_eq!(current_span_bytes(), None);
        crate::base::attribution::on_sample(1000); // outside: nobody's
        span.in_scope(|| crate::base::attribution::on_sample(3));
        // Entered again on another thread: same span, same total.
        let s2 = span.clone();
        std::thread::spawn(move || {
            s2.in_scope(|| {
                assert_eq!(name(), Some("layer-bytes"));
                crate::base::attribution::on_sample(4);
            });
        })
        .join()
        .unwrap();
        assert!(seen.0.lock().unwrap().is_empty(), "recorded only at close");
        drop(span);
    });
    assert_eq!(*seen.0.lock().unwrap(), vec![127]);
}

/// A boxed subscriber (`Box<dyn Subscriber>`, common where the layers are chosen at run
/// time) does not pass its registration on to the layers: the close still records the
/// field, through the thread's default dispatch.
#[test]
fn close_records_the_field_through_a_boxed_subscriber() {
    let seen = Seen::default();
    let sub: Box<dyn Subscriber + Send + Sync> = Box::new(
        tracing_subscriber::registry()
            .with(RtscopeLayer::new())
            .with(seen.clone()),
    );
    ::tracing::subscriber::with_default(sub, || {
        let span = ::tracing::info_span!("boxed", alloc.bytes = ::tracing::field::Empty);
        span.in_scope(|| crate::base::attribution::on_sample(42));
        drop(span);
    });
    assert_eq!(*seen.0.lock().unwrap(), vec![42]);
}

#[test]
fn warns_once_after_a_quiet_minute_with_samples() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let minute = Duration::from_secs(60);
    let mut w = SpanWatch {
        quiet_since: None,
        warned: false,
    };
    assert!(
        !w.observe(false, 0, at(0), minute),
        "the first check starts the stretch"
    );
    assert!(!w.observe(false, 50, at(59), minute), "not a minute yet");
    assert!(
        !w.observe(true, 60, at(60), minute),
        "a span: a new stretch"
    );
    assert!(
        !w.observe(false, 60, at(130), minute),
        "a quiet minute, no samples"
    );
    assert!(
        w.observe(false, 61, at(130), minute),
        "a quiet minute with samples"
    );
    assert!(!w.observe(false, 99, at(300), minute), "once");
}

#[test]
#[cfg(feature = "opentelemetry")]
fn warns_once_after_a_minute_of_untraced_samples_in_spans() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let minute = Duration::from_secs(60);
    let mut w = TraceWatch {
        since: None,
        warned: false,
    };
    assert!(
        !w.observe(0, 0, at(0), minute),
        "the first check starts the stretch"
    );
    assert!(!w.observe(10, 0, at(59), minute), "not a minute yet");
    assert!(
        !w.observe(12, 1, at(60), minute),
        "a traced sample: a new stretch"
    );
    assert!(
        !w.observe(12, 1, at(130), minute),
        "a minute without samples in spans"
    );
    assert!(
        w.observe(13, 1, at(130), minute),
        "a minute of untraced samples in spans"
    );
    assert!(!w.observe(99, 1, at(300), minute), "once");
}

#[test]
fn a_registry_wide_filter_hides_spans_a_per_layer_filter_does_not() {
    use tracing_subscriber::filter::LevelFilter;
    // A global filter: the INFO span is never created, for any layer.
    let global = tracing_subscriber::registry()
        .with(LevelFilter::WARN)
        .with(RtscopeLayer::new());
    ::tracing::subscriber::with_default(global, || {
        ::tracing::info_span!("filtered-global").in_scope(|| assert_eq!(name(), None));
    });
    // The documented setup: the filter on the other layer only.
    let per_layer = tracing_subscriber::registry()
        .with(RtscopeLayer::new())
        .with(Seen::default().with_filter(LevelFilter::WARN));
    ::tracing::subscriber::with_default(per_layer, || {
        ::tracing::info_span!("filtered-per-layer")
            .in_scope(|| assert_eq!(name(), Some("filtered-per-layer")));
    });
}

#[test]
fn scope_field_names_the_scope() {
    let sub =
        tracing_subscriber::registry().with(RtscopeLayer::new().with_scope_field("route"));
    ::tracing::subscriber::with_default(sub, || {
        ::tracing::info_span!("req", route = "/a").in_scope(|| assert_eq!(name(), Some("/a")));
        ::tracing::info_span!("req", route = 7).in_scope(|| assert_eq!(name(), Some("7")));
        ::tracing::info_span!("no-route").in_scope(|| assert_eq!(name(), Some("no-route")));
        let later = ::tracing::info_span!("req", route = ::tracing::field::Empty);
        later.in_scope(|| assert_eq!(name(), Some("req")));
        later.record("route", "/b");
        later.in_scope(|| assert_eq!(name(), Some("/b")));
    });
}
