//! Linux: the kernel's thread ids, `/proc` for per-thread scheduler counts, thread names and
//! resident memory, `getrandom` for seeds.

/// The kernel thread id of the calling thread (never 0). No allocation.
pub(crate) fn thread_id() -> u32 {
    // SAFETY: gettid has no preconditions.
    u32::try_from(unsafe { libc::gettid() }).unwrap_or(0)
}

/// [`for_each_thread`] reports the process's threads (when the kernel keeps schedstat).
pub(crate) const THREAD_SCHEDSTAT: bool = true;

/// The kernel's name of thread `tid` of this process (`comm`, at most 15 bytes), if it is
/// alive. Allocates.
// A sampled thread's name, for the export side's log records.
#[cfg_attr(not(feature = "_export"), allow(dead_code))]
pub(crate) fn thread_name(tid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_owned())
}

/// Resident set size of the process in bytes, from `/proc/self/statm`. Allocates.
pub(crate) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// 64 random bits from the kernel, or `None` if it has none to give without waiting.
/// No allocation.
pub(crate) fn random_u64() -> Option<u64> {
    let mut bits = 0u64;
    // SAFETY: `bits` is 8 writable bytes; GRND_NONBLOCK never waits.
    let n = unsafe {
        libc::getrandom(
            (&raw mut bits).cast::<libc::c_void>(),
            std::mem::size_of::<u64>(),
            libc::GRND_NONBLOCK,
        )
    };
    (n == std::mem::size_of::<u64>() as isize).then_some(bits)
}

/// Calls `f(tid, comm, run-queue wait ns, runs)` for every thread of the process: nothing
/// where `/proc/self/task/*/schedstat` is missing (a kernel without `CONFIG_SCHED_INFO`).
pub(crate) fn for_each_thread(mut f: impl FnMut(u32, &[u8], u64, u64)) {
    use std::ffi::CStr;

    /// Reads up to `buf.len()` bytes of `dir_fd`/`path`.
    fn read_at<'b>(dir_fd: libc::c_int, path: &CStr, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        // SAFETY: `path` is a valid NUL-terminated string; `dir_fd` is an open directory fd.
        let fd = unsafe { libc::openat(dir_fd, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `fd` is open.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: `fd` was opened above and is closed once.
        unsafe { libc::close(fd) };
        let n = usize::try_from(n).ok()?;
        buf.get(..n)
    }

    /// `<tid>/<file>` NUL-terminated in `buf`.
    fn path<'b>(buf: &'b mut [u8; 64], tid: &[u8], file: &[u8]) -> Option<&'b CStr> {
        let len = tid.len() + 1 + file.len();
        if len + 1 > buf.len() {
            return None;
        }
        buf[..tid.len()].copy_from_slice(tid);
        buf[tid.len()] = b'/';
        buf[tid.len() + 1..len].copy_from_slice(file);
        buf[len] = 0;
        CStr::from_bytes_with_nul(&buf[..=len]).ok()
    }

    // SAFETY: a valid NUL-terminated path; the stream is closed below.
    let dir = unsafe { libc::opendir(c"/proc/self/task".as_ptr()) };
    if dir.is_null() {
        return;
    }
    // SAFETY: `dir` is an open directory stream.
    let dir_fd = unsafe { libc::dirfd(dir) };
    let mut path_buf = [0u8; 64];
    let mut stat_buf = [0u8; 128];
    let mut comm_buf = [0u8; 64];
    loop {
        // SAFETY: `dir` is an open stream used by this thread only.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: `readdir` returned a valid entry whose `d_name` is NUL-terminated; it stays
        // valid until the next `readdir` on `dir`, and is copied out before that.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        let Some(tid) = parse_u64(name).and_then(|t| u32::try_from(t).ok()) else {
            continue; // "." and ".."
        };
        let Some(p) = path(&mut path_buf, name, b"schedstat") else {
            continue;
        };
        let Some(stat) = read_at(dir_fd, p, &mut stat_buf) else {
            continue;
        };
        let mut fields = stat
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let (Some(_on_cpu), Some(wait), Some(runs)) = (
            fields.next().and_then(parse_u64),
            fields.next().and_then(parse_u64),
            fields.next().and_then(parse_u64),
        ) else {
            continue;
        };
        let comm = match path(&mut path_buf, name, b"comm") {
            Some(p) => read_at(dir_fd, p, &mut comm_buf).unwrap_or(b"unknown"),
            None => b"unknown",
        };
        let comm = comm.strip_suffix(b"\n").unwrap_or(comm);
        f(tid, comm, wait, runs);
    }
    // SAFETY: `dir` was opened above and is closed once.
    unsafe { libc::closedir(dir) };
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The calling thread's stack, as `(lowest, highest)` address. Allocates (glibc reads
/// `/proc/self/maps` for the main thread): callers run it in the agent's account.
#[cfg_attr(not(rtscope_frame_pointers), allow(dead_code))]
pub(crate) fn stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialized by pthread_getattr_np before it is read, and destroyed
    // once; `addr` and `size` are plain out-parameters.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut addr = std::ptr::null_mut();
        let mut size = 0usize;
        let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        (rc == 0 && size > 0).then(|| (addr as usize, addr as usize + size))
    }
}

/// The executable segments of every loaded object, from `dl_iterate_phdr`. Allocates.
#[cfg_attr(not(feature = "profiles"), allow(dead_code))]
pub(crate) fn executable_segments() -> Vec<super::Segment> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid info record, and `data` is the vector below.
        let (info, out) = unsafe { (&*info, &mut *data.cast::<Vec<super::Segment>>()) };
        let file = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null `dlpi_name` is a NUL-terminated string owned by the loader.
            unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        let file = if file.is_empty() && out.is_empty() {
            std::fs::read_link("/proc/self/exe")
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            file
        };
        if file.is_empty() || file.starts_with("linux-vdso") {
            return 0;
        }
        // SAFETY: the loader's program headers: `dlpi_phnum` entries at `dlpi_phdr`.
        let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
        let mut build_id = String::new();
        for h in headers.iter().filter(|h| h.p_type == libc::PT_NOTE) {
            let at = (info.dlpi_addr + h.p_vaddr) as *const u8;
            // SAFETY: a PT_NOTE segment is mapped, `p_memsz` bytes at its address.
            let notes = unsafe { std::slice::from_raw_parts(at, h.p_memsz as usize) };
            if let Some(id) = gnu_build_id(notes) {
                build_id = id;
            }
        }
        for h in headers
            .iter()
            .filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_X != 0)
        {
            let start = info.dlpi_addr + h.p_vaddr;
            out.push(super::Segment {
                start,
                end: start + h.p_memsz,
                file_offset: h.p_offset,
                bias: info.dlpi_addr,
                file: file.clone(),
                build_id: build_id.clone(),
            });
        }
        0
    }
    let mut out: Vec<super::Segment> = Vec::new();
    // SAFETY: `each` only reads what the loader passes and writes to `out`, which outlives
    // the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut out).cast()) };
    out
}

#[cfg_attr(not(feature = "profiles"), allow(dead_code))]
/// The descriptor of the `NT_GNU_BUILD_ID` note in `notes` (ELF note records), as hex.
fn gnu_build_id(mut notes: &[u8]) -> Option<String> {
    let word = |b: &[u8], i: usize| -> Option<usize> {
        Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize)
    };
    let pad = |n: usize| (n + 3) & !3;
    while notes.len() >= 12 {
        let (name_len, desc_len, kind) = (word(notes, 0)?, word(notes, 4)?, word(notes, 8)?);
        let name = notes.get(12..12 + name_len)?;
        let desc_at = 12 + pad(name_len);
        let desc = notes.get(desc_at..desc_at + desc_len)?;
        if kind == 3 && name == b"GNU\0" {
            return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
        }
        notes = notes.get(desc_at + pad(desc_len)..)?;
    }
    None
}

/// The C allocator whose accounting [`malloc_info`] reads (`rust.allocator.name`).
pub(crate) const MALLOC_NAME: &str = if cfg!(target_env = "gnu") {
    "glibc"
} else {
    "libc"
};

/// glibc malloc's own accounting, summed over its arenas (`mallinfo2`, glibc 2.33 and
/// later): `None` on another libc. It takes each arena's lock while it walks that arena's
/// free lists, so it costs in proportion to the free chunks. No allocation.
pub(crate) fn malloc_info() -> Option<super::MallocInfo> {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallinfo2 has no preconditions; it returns a plain struct by value.
        let m = unsafe { libc::mallinfo2() };
        let n = |v: usize| v as u64;
        Some(super::MallocInfo {
            heap: n(m.arena),
            mmapped: n(m.hblkhd),
            in_use: n(m.uordblks),
            free: n(m.fordblks),
            top_releasable: n(m.keepcost),
        })
    }
    #[cfg(not(target_env = "gnu"))]
    None
}

/// Asks glibc malloc to give free memory back to the kernel (`malloc_trim(0)`: the top of
/// each heap and the whole free pages inside free chunks, with `MADV_DONTNEED`). `false`
/// on another libc, where nothing is asked.
pub(crate) fn malloc_trim() -> bool {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: malloc_trim has no preconditions; 0 keeps no pad at the top.
        unsafe { libc::malloc_trim(0) };
        true
    }
    #[cfg(not(target_env = "gnu"))]
    false
}

/// Threads and virtual size from `/proc/self/stat` (fields 20 and 23), open descriptors
/// from `/proc/self/fd`, into `s`. No allocation through Rust's allocator (`opendir` takes
/// its buffer from the C allocator).
pub(crate) fn process_details(s: &mut super::ProcessStats) {
    let mut buf = [0u8; 1024];
    // SAFETY: a valid NUL-terminated path; the fd is closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/stat".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd >= 0 {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `fd` is open.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: `fd` was opened above and is closed once.
        unsafe { libc::close(fd) };
        let stat = buf.get(..usize::try_from(n).unwrap_or(0)).unwrap_or(&[]);
        // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
        if let Some(close) = stat.iter().rposition(|&b| b == b')') {
            let mut fields = stat[close + 1..]
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            // Field 3 (state) is the first after ')': field k is at index k - 3.
            let threads = fields.nth(20 - 3).and_then(parse_u64);
            let vsize = fields.nth(23 - 20 - 1).and_then(parse_u64);
            s.threads = threads;
            s.virtual_bytes = vsize;
        }
    }
    // SAFETY: a valid NUL-terminated path; the stream is closed below.
    let dir = unsafe { libc::opendir(c"/proc/self/fd".as_ptr()) };
    if !dir.is_null() {
        let mut n = 0u64;
        // SAFETY: `dir` is an open stream used by this thread only.
        while !unsafe { libc::readdir(dir) }.is_null() {
            n += 1;
        }
        // SAFETY: `dir` was opened above and is closed once.
        unsafe { libc::closedir(dir) };
        // Not ".", "..", nor the stream's own descriptor.
        s.open_fds = Some(n.saturating_sub(3));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_u64(b"38237344"), Some(38_237_344));
        assert_eq!(parse_u64(b"."), None);
        assert_eq!(parse_u64(b""), None);
    }

    #[test]
    fn reads_this_thread_s_name_and_the_process_s_memory() {
        let name = std::thread::Builder::new()
            .name("rts-sys-name".into())
            .spawn(|| thread_name(thread_id()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(name.as_deref(), Some("rts-sys-name"));
        assert!(resident_bytes().is_some_and(|b| b > 0));
    }
}
