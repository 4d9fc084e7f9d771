//go:build !linux

package sftpserver

import (
	"io/fs"
	"time"

	"github.com/pkg/sftp"
)

// statVFS is only implemented on Linux.
func statVFS(string) (*sftp.StatVFS, error) {
	return nil, unsupported("statvfs is not supported on this server")
}

// freeSpace is only known on Linux; elsewhere uploads are not refused for it.
func freeSpace(string) (int64, error) {
	return 0, unsupported("free space is not known on this system")
}

func changeTime(fi fs.FileInfo) time.Time { return fi.ModTime() }
