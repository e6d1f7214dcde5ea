//! `#[rtscope::main]`: expansions that must compile and run, and misuse that must fail to
//! compile with a clear message (`tests/ui/**/*.stderr`; regenerate with
//! `TRYBUILD=overwrite cargo test -p rtscope --test macros` and review the diff).
//!
//! Run both ways: `cargo test -p rtscope --test macros` and
//! `cargo test -p rtscope --features tokio --test macros`.

#[test]
fn ui() {
    let out = std::env::temp_dir().join(format!("rtscope-ui-{}.jsonl", std::process::id()));
    // SAFETY: this is the only test of this binary, and it sets the variables before anything
    // else runs (trybuild starts its child processes later), so no other thread reads or
    // writes the environment concurrently.
    unsafe {
        // The pass cases run their `main`: keep their output out of the source tree and quiet.
        std::env::set_var("RTSCOPE_FILE", &out);
        std::env::set_var("RTSCOPE_SUMMARY", "off");
        std::env::remove_var("OTEL_EXPORTER_OTLP_ENDPOINT");
        std::env::remove_var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        std::env::remove_var("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT");
    }
    {
        let t = trybuild::TestCases::new();
        t.pass("tests/ui/pass/*.rs");
        t.compile_fail("tests/ui/fail/*.rs");
        #[cfg(feature = "tokio")]
        t.pass("tests/ui/tokio/*.rs");
        #[cfg(not(feature = "tokio"))]
        t.compile_fail("tests/ui/no_tokio/*.rs");
    } // The cases run here, when `t` drops.
    let _ = std::fs::remove_file(&out);
}
