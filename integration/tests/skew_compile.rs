//! The documented setup of trace context (docs/metrics.md) fails to compile when the
//! application's OpenTelemetry is another version than rtscope's: `with_resource` takes
//! rtscope's `opentelemetry_sdk::Resource`, and rustc names the two versions
//! (`tests/skew/*.stderr`; regenerate with `TRYBUILD=overwrite cargo test -p
//! rtscope-integration --test skew_compile` and review the diff).

#[test]
fn the_documented_setup_fails_to_compile_on_a_version_skew() {
    trybuild::TestCases::new().compile_fail("tests/skew/*.rs");
}
