//! Test support for running rtscope against a real collector.
