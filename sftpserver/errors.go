package sftpserver

import (
	"errors"
	"io/fs"
	"syscall"

	"github.com/pkg/sftp"
)

// statusError is an SFTP status with a message of our choosing. pkg/sftp
// sends the text of any error it is given to the client, so every error a
// handler returns goes through mapErr first: no host path, no syscall text.
type statusError struct {
	code error // one of the sftp.ErrSSHFx* values
	msg  string
}

func (e *statusError) Error() string { return e.msg }
func (e *statusError) Unwrap() error { return e.code }

func denied(msg string) error    { return &statusError{sftp.ErrSSHFxPermissionDenied, msg} }
func failure(msg string) error   { return &statusError{sftp.ErrSSHFxFailure, msg} }
func noSuchFile() error          { return &statusError{sftp.ErrSSHFxNoSuchFile, "no such file"} }
func unsupported(m string) error { return &statusError{sftp.ErrSSHFxOpUnsupported, m} }

// mapErr turns a file system error into a status a client understands and
// that says nothing about the host.
func mapErr(err error) error {
	var se *statusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return noSuchFile()
	case errors.Is(err, fs.ErrExist):
		return failure("file exists")
	case errors.Is(err, fs.ErrPermission):
		return denied("permission denied")
	case errors.Is(err, syscall.EISDIR):
		return failure("is a folder")
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return failure("no space left on the server")
	}
	// Includes os.Root refusing a path that escapes the account's folder
	// (through a symlink or otherwise): to the client it is just refused.
	return denied("permission denied")
}
