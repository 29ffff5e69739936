//! WASI error numbers, and the mapping from host I/O errors to them.

use std::fmt;
use std::io;

/// A `wasi_snapshot_preview1` error number, as returned to the guest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub u16);

macro_rules! errnos {
    ($($name:ident = $value:literal, $text:literal;)*) => {
        impl Errno {
            $(#[doc = $text] pub const $name: Errno = Errno($value);)*

            /// The name WASI gives this error (`"NOENT"`), or `None` for an unknown number.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// A short description, like `strerror`.
            pub fn message(self) -> &'static str {
                match self.0 {
                    $($value => $text,)*
                    _ => "unknown error",
                }
            }
        }
    };
}

errnos! {
    SUCCESS = 0, "No error occurred.";
    TOOBIG = 1, "Argument list too long.";
    ACCES = 2, "Permission denied.";
    ADDRINUSE = 3, "Address in use.";
    ADDRNOTAVAIL = 4, "Address not available.";
    AFNOSUPPORT = 5, "Address family not supported.";
    AGAIN = 6, "Resource unavailable, or operation would block.";
    ALREADY = 7, "Connection already in progress.";
    BADF = 8, "Bad file descriptor.";
    BADMSG = 9, "Bad message.";
    BUSY = 10, "Device or resource busy.";
    CANCELED = 11, "Operation canceled.";
    CHILD = 12, "No child processes.";
    CONNABORTED = 13, "Connection aborted.";
    CONNREFUSED = 14, "Connection refused.";
    CONNRESET = 15, "Connection reset.";
    DEADLK = 16, "Resource deadlock would occur.";
    DESTADDRREQ = 17, "Destination address required.";
    DOM = 18, "Mathematics argument out of domain of function.";
    DQUOT = 19, "Reserved.";
    EXIST = 20, "File exists.";
    FAULT = 21, "Bad address.";
    FBIG = 22, "File too large.";
    HOSTUNREACH = 23, "Host is unreachable.";
    IDRM = 24, "Identifier removed.";
    ILSEQ = 25, "Illegal byte sequence.";
    INPROGRESS = 26, "Operation in progress.";
    INTR = 27, "Interrupted function.";
    INVAL = 28, "Invalid argument.";
    IO = 29, "I/O error.";
    ISCONN = 30, "Socket is connected.";
    ISDIR = 31, "Is a directory.";
    LOOP = 32, "Too many levels of symbolic links.";
    MFILE = 33, "File descriptor value too large.";
    MLINK = 34, "Too many links.";
    MSGSIZE = 35, "Message too large.";
    MULTIHOP = 36, "Reserved.";
    NAMETOOLONG = 37, "Filename too long.";
    NETDOWN = 38, "Network is down.";
    NETRESET = 39, "Connection aborted by network.";
    NETUNREACH = 40, "Network unreachable.";
    NFILE = 41, "Too many files open in system.";
    NOBUFS = 42, "No buffer space available.";
    NODEV = 43, "No such device.";
    NOENT = 44, "No such file or directory.";
    NOEXEC = 45, "Executable file format error.";
    NOLCK = 46, "No locks available.";
    NOLINK = 47, "Reserved.";
    NOMEM = 48, "Not enough space.";
    NOMSG = 49, "No message of the desired type.";
    NOPROTOOPT = 50, "Protocol not available.";
    NOSPC = 51, "No space left on device.";
    NOSYS = 52, "Function not supported.";
    NOTCONN = 53, "The socket is not connected.";
    NOTDIR = 54, "Not a directory or a symbolic link to a directory.";
    NOTEMPTY = 55, "Directory not empty.";
    NOTRECOVERABLE = 56, "State not recoverable.";
    NOTSOCK = 57, "Not a socket.";
    NOTSUP = 58, "Not supported, or operation not supported on socket.";
    NOTTY = 59, "Inappropriate I/O control operation.";
    NXIO = 60, "No such device or address.";
    OVERFLOW = 61, "Value too large to be stored in data type.";
    OWNERDEAD = 62, "Previous owner died.";
    PERM = 63, "Operation not permitted.";
    PIPE = 64, "Broken pipe.";
    PROTO = 65, "Protocol error.";
    PROTONOSUPPORT = 66, "Protocol not supported.";
    PROTOTYPE = 67, "Protocol wrong type for socket.";
    RANGE = 68, "Result too large.";
    ROFS = 69, "Read-only file system.";
    SPIPE = 70, "Invalid seek.";
    SRCH = 71, "No such process.";
    STALE = 72, "Reserved.";
    TIMEDOUT = 73, "Connection timed out.";
    TXTBSY = 74, "Text file busy.";
    XDEV = 75, "Cross-device link.";
    NOTCAPABLE = 76, "Extension: Capabilities insufficient.";
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "Errno::{name}"),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.0)
    }
}

impl From<io::Error> for Errno {
    fn from(err: io::Error) -> Errno {
        match err.raw_os_error() {
            Some(code) => from_raw_os_error(code),
            // Errors made up by the standard library or cap-std. cap-std reports an
            // attempt to leave the sandbox (`..` past the root, an absolute path, a
            // symlink pointing outside) as `PermissionDenied` without an OS code.
            None => match err.kind() {
                io::ErrorKind::NotFound => Errno::NOENT,
                io::ErrorKind::PermissionDenied => Errno::PERM,
                io::ErrorKind::AlreadyExists => Errno::EXIST,
                io::ErrorKind::WouldBlock => Errno::AGAIN,
                io::ErrorKind::InvalidInput => Errno::INVAL,
                io::ErrorKind::InvalidData => Errno::ILSEQ,
                io::ErrorKind::BrokenPipe => Errno::PIPE,
                io::ErrorKind::Interrupted => Errno::INTR,
                io::ErrorKind::Unsupported => Errno::NOTSUP,
                io::ErrorKind::OutOfMemory => Errno::NOMEM,
                io::ErrorKind::NotADirectory => Errno::NOTDIR,
                io::ErrorKind::IsADirectory => Errno::ISDIR,
                io::ErrorKind::DirectoryNotEmpty => Errno::NOTEMPTY,
                io::ErrorKind::ReadOnlyFilesystem => Errno::ROFS,
                io::ErrorKind::InvalidFilename => Errno::INVAL,
                io::ErrorKind::CrossesDevices => Errno::XDEV,
                io::ErrorKind::FileTooLarge => Errno::FBIG,
                io::ErrorKind::StorageFull => Errno::NOSPC,
                io::ErrorKind::NotSeekable => Errno::SPIPE,
                io::ErrorKind::TimedOut => Errno::TIMEDOUT,
                _ => Errno::IO,
            },
        }
    }
}

impl From<rustix::io::Errno> for Errno {
    fn from(err: rustix::io::Errno) -> Errno {
        from_raw_os_error(err.raw_os_error())
    }
}

/// Maps a host `errno` to WASI's numbering (which differs from every host's).
fn from_raw_os_error(code: i32) -> Errno {
    use libc::*;
    // Written as guards because some hosts give two names one value
    // (`EAGAIN`/`EWOULDBLOCK`, `ENOTSUP`/`EOPNOTSUPP`).
    let table: &[(i32, Errno)] = &[
        (E2BIG, Errno::TOOBIG),
        (EACCES, Errno::ACCES),
        (EADDRINUSE, Errno::ADDRINUSE),
        (EADDRNOTAVAIL, Errno::ADDRNOTAVAIL),
        (EAFNOSUPPORT, Errno::AFNOSUPPORT),
        (EAGAIN, Errno::AGAIN),
        (EWOULDBLOCK, Errno::AGAIN),
        (EALREADY, Errno::ALREADY),
        (EBADF, Errno::BADF),
        (EBADMSG, Errno::BADMSG),
        (EBUSY, Errno::BUSY),
        (ECANCELED, Errno::CANCELED),
        (ECHILD, Errno::CHILD),
        (ECONNABORTED, Errno::CONNABORTED),
        (ECONNREFUSED, Errno::CONNREFUSED),
        (ECONNRESET, Errno::CONNRESET),
        (EDEADLK, Errno::DEADLK),
        (EDESTADDRREQ, Errno::DESTADDRREQ),
        (EDOM, Errno::DOM),
        (EDQUOT, Errno::DQUOT),
        (EEXIST, Errno::EXIST),
        (EFAULT, Errno::FAULT),
        (EFBIG, Errno::FBIG),
        (EHOSTUNREACH, Errno::HOSTUNREACH),
        (EIDRM, Errno::IDRM),
        (EILSEQ, Errno::ILSEQ),
        (EINPROGRESS, Errno::INPROGRESS),
        (EINTR, Errno::INTR),
        (EINVAL, Errno::INVAL),
        (EIO, Errno::IO),
        (EISCONN, Errno::ISCONN),
        (EISDIR, Errno::ISDIR),
        (ELOOP, Errno::LOOP),
        (EMFILE, Errno::MFILE),
        (EMLINK, Errno::MLINK),
        (EMSGSIZE, Errno::MSGSIZE),
        (EMULTIHOP, Errno::MULTIHOP),
        (ENAMETOOLONG, Errno::NAMETOOLONG),
        (ENETDOWN, Errno::NETDOWN),
        (ENETRESET, Errno::NETRESET),
        (ENETUNREACH, Errno::NETUNREACH),
        (ENFILE, Errno::NFILE),
        (ENOBUFS, Errno::NOBUFS),
        (ENODEV, Errno::NODEV),
        (ENOENT, Errno::NOENT),
        (ENOEXEC, Errno::NOEXEC),
        (ENOLCK, Errno::NOLCK),
        (ENOLINK, Errno::NOLINK),
        (ENOMEM, Errno::NOMEM),
        (ENOMSG, Errno::NOMSG),
        (ENOPROTOOPT, Errno::NOPROTOOPT),
        (ENOSPC, Errno::NOSPC),
        (ENOSYS, Errno::NOSYS),
        (ENOTCONN, Errno::NOTCONN),
        (ENOTDIR, Errno::NOTDIR),
        (ENOTEMPTY, Errno::NOTEMPTY),
        (ENOTRECOVERABLE, Errno::NOTRECOVERABLE),
        (ENOTSOCK, Errno::NOTSOCK),
        (ENOTSUP, Errno::NOTSUP),
        (EOPNOTSUPP, Errno::NOTSUP),
        (ENOTTY, Errno::NOTTY),
        (ENXIO, Errno::NXIO),
        (EOVERFLOW, Errno::OVERFLOW),
        (EOWNERDEAD, Errno::OWNERDEAD),
        (EPERM, Errno::PERM),
        (EPIPE, Errno::PIPE),
        (EPROTO, Errno::PROTO),
        (EPROTONOSUPPORT, Errno::PROTONOSUPPORT),
        (EPROTOTYPE, Errno::PROTOTYPE),
        (ERANGE, Errno::RANGE),
        (EROFS, Errno::ROFS),
        (ESPIPE, Errno::SPIPE),
        (ESRCH, Errno::SRCH),
        (ESTALE, Errno::STALE),
        (ETIMEDOUT, Errno::TIMEDOUT),
        (ETXTBSY, Errno::TXTBSY),
        (EXDEV, Errno::XDEV),
    ];
    table
        .iter()
        .find(|(host, _)| *host == code)
        .map_or(Errno::IO, |(_, wasi)| *wasi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_map_by_number() {
        assert_eq!(
            Errno::from(io::Error::from_raw_os_error(libc::ENOENT)),
            Errno::NOENT
        );
        assert_eq!(
            Errno::from(io::Error::from_raw_os_error(libc::ELOOP)),
            Errno::LOOP
        );
        assert_eq!(
            Errno::from(io::Error::from_raw_os_error(libc::EWOULDBLOCK)),
            Errno::AGAIN
        );
        assert_eq!(
            Errno::from(io::Error::from_raw_os_error(libc::EACCES)),
            Errno::ACCES
        );
        // An escape attempt reported by cap-std has no OS error number.
        let escape = io::Error::new(io::ErrorKind::PermissionDenied, "outside");
        assert_eq!(Errno::from(escape), Errno::PERM);
        assert_eq!(Errno::from(io::Error::other("?")), Errno::IO);
    }

    #[test]
    fn names() {
        assert_eq!(Errno::FAULT.name(), Some("FAULT"));
        assert_eq!(Errno(21), Errno::FAULT);
        assert_eq!(Errno(500).name(), None);
        assert_eq!(format!("{:?}", Errno::NOTCAPABLE), "Errno::NOTCAPABLE");
    }
}
