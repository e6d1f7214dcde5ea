//! Attribute macros for rtscope. Use them through the `rtscope` crate.
