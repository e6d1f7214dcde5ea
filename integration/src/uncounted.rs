//! Printing from a workload child without allocating, so that a line carrying the exact
//! counts its final export must match does not change them.

use std::io::Write;

/// Writes one line, built by `f`, to stdout without allocating: it is formatted into a 4 KiB
/// buffer on the stack (a longer line is cut) and written with `write(2)`, past std's
/// buffered stdout (whose earlier lines, each ended by a newline, are already flushed).
pub fn print_uncounted(f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
    let mut buf = [0u8; 4096];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = f(&mut cursor);
    let _ = cursor.write_all(b"\n");
    let len = usize::try_from(cursor.position()).unwrap_or(0);
    let mut done = 0;
    while done < len {
        let rest = &buf[done..len];
        // SAFETY: `rest` is a valid, initialized buffer of `rest.len()` bytes for the call.
        let n = unsafe { libc::write(1, rest.as_ptr().cast(), rest.len()) };
        match usize::try_from(n) {
            Ok(n) if n > 0 => done += n,
            _ => break,
        }
    }
}
