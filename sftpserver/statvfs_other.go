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

func changeTime(fi fs.FileInfo) time.Time { return fi.ModTime() }
