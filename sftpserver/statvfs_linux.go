package sftpserver

import (
	"io/fs"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// statVFS reports the space of the file system holding dir, as OpenSSH's
// sftp-server does for df. The file system id is left out: it identifies
// the host's disk, which is none of the client's business.
func statVFS(dir string) (*sftp.StatVFS, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil, mapErr(err)
	}
	return &sftp.StatVFS{
		Bsize: uint64(st.Bsize), Frsize: uint64(st.Frsize),
		Blocks: st.Blocks, Bfree: st.Bfree, Bavail: st.Bavail,
		Files: st.Files, Ffree: st.Ffree, Favail: st.Ffree,
		Flag: uint64(st.Flags), Namemax: maxNameLen,
	}, nil
}

// freeSpace is the space available to unprivileged writers on the file
// system holding dir.
func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// changeTime is the inode's change time: unlike the modification time, a
// client cannot set it, so it says when the file was last written or
// renamed.
func changeTime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return fi.ModTime()
}
