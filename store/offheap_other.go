//go:build !unix

package store

func mapAnon(size int) ([]byte, func()) { return make([]byte, size), func() {} }
