//! What the embedder lets a guest do beneath a preopened directory, and the
//! preview-1 rights that stands for.

use crate::types::rights;

bitflags::bitflags! {
    /// What a guest may do with a preopened directory and the directories
    /// beneath it.
    ///
    /// The shape of wasmtime-wasi up to version 47. Wasmtime 48 replaced this
    /// pair with a single read-only/read-write `FsPerms`; Lazuli keeps the pair
    /// because it maps exactly onto preview-1 rights (see
    /// [`WasiCtxBuilder::preopened_dir`](crate::WasiCtxBuilder::preopened_dir)) and
    /// says more: a directory the guest may fill with new files it cannot then
    /// change, or files it may write in a tree it may not rearrange.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct DirPerms: usize {
        /// Open, list and stat what is beneath; read symlinks. The rights
        /// `path_open`, `fd_readdir`, `path_readlink`, `path_filestat_get`,
        /// `fd_filestat_get`, `fd_fdstat_set_flags`, `fd_sync` and `fd_datasync`.
        const READ = 0b01;
        /// Create, remove, rename and link files and directories, truncate files
        /// on opening, set times. The rights `path_create_directory`,
        /// `path_create_file`, `path_link_source`/`_target`,
        /// `path_rename_source`/`_target`, `path_filestat_set_size`,
        /// `path_filestat_set_times`, `fd_filestat_set_times`, `path_symlink`,
        /// `path_remove_directory` and `path_unlink_file`.
        const MUTATE = 0b10;
    }
}

bitflags::bitflags! {
    /// What a guest may do with the files it opens beneath a preopened directory.
    ///
    /// Either flag also gives the rights that go with both: `fd_seek`, `fd_tell`,
    /// `fd_advise`, `fd_sync`, `fd_fdstat_set_flags`, `fd_filestat_get` and
    /// `poll_fd_readwrite`. See [`DirPerms`] for why Lazuli keeps this shape.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct FilePerms: usize {
        /// The right `fd_read`.
        const READ = 0b01;
        /// The rights `fd_write`, `fd_datasync`, `fd_allocate`,
        /// `fd_filestat_set_size` and `fd_filestat_set_times`.
        const WRITE = 0b10;
    }
}

/// The directory rights `perms` stand for.
fn dir_rights(perms: DirPerms) -> u64 {
    let mut out = 0;
    if perms.contains(DirPerms::READ) {
        out |= rights::DIRECTORY_READ;
    }
    if perms.contains(DirPerms::MUTATE) {
        out |= rights::DIRECTORY_MUTATE;
    }
    out
}

/// The file rights `perms` stand for.
fn file_rights(perms: FilePerms) -> u64 {
    let mut out = 0;
    if perms.contains(FilePerms::READ) {
        out |= rights::FILE_COMMON | rights::FILE_READ;
    }
    if perms.contains(FilePerms::WRITE) {
        out |= rights::FILE_COMMON | rights::FILE_WRITE;
    }
    out
}

/// The base and inheriting rights of a preopened directory: the directory's own
/// rights, and those plus the file rights for what is opened beneath it.
pub(crate) fn preopen_rights(dir: DirPerms, file: FilePerms) -> (u64, u64) {
    let base = dir_rights(dir);
    (base, base | file_rights(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_map_onto_disjoint_rights() {
        let (all, all_inh) = preopen_rights(DirPerms::all(), FilePerms::all());
        assert_eq!(all, rights::DIRECTORY);
        assert_eq!(all_inh, rights::DIRECTORY | rights::FILE);
        let (ro, ro_inh) = preopen_rights(DirPerms::READ, FilePerms::READ);
        assert_eq!(ro & rights::PATH_CREATE_FILE, 0);
        assert_eq!(ro_inh & rights::FD_WRITE, 0);
        assert_ne!(ro_inh & rights::FD_READ, 0);
        let (none, none_inh) = preopen_rights(DirPerms::empty(), FilePerms::empty());
        assert_eq!((none, none_inh), (0, 0));
        let (_, w_inh) = preopen_rights(DirPerms::READ, FilePerms::WRITE);
        assert_eq!(w_inh & rights::FD_READ, 0);
        assert_ne!(w_inh & rights::FD_SEEK, 0);
        assert_eq!(rights::DIRECTORY_READ & rights::DIRECTORY_MUTATE, 0);
        assert_eq!(rights::FILE_READ & rights::FILE_WRITE, 0);
    }
}
